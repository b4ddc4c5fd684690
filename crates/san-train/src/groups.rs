//! Parameter groups: the pretrained parts of a model (a BERT text encoder's own layers, a
//! frame CNN) train at their own learning-rate multipliers (`model.text.lr_multiplier`,
//! `model.pretrained_cnn.lr_multiplier`), the rest at the base rate. The optimiser steps
//! once per group, with that group's gradients only; its per-parameter state is keyed by
//! parameter, so the groups never mix.

use std::marker::PhantomData;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use san_models::retrieval::{RetrievalModel, SignEncoder, TextEncoder};

use crate::config::TrainConfig;

/// The gradients of one step split into groups, each with its learning-rate multiplier:
/// the base group (multiplier 1) first, then BERT's and the CNN's when their multipliers
/// differ from 1. With every multiplier 1 there is one group, the gradients as given.
pub fn gradient_groups<B: AutodiffBackend>(
    model: &RetrievalModel<B>,
    mut grads: GradientsParams,
    config: &TrainConfig,
) -> Vec<(f64, GradientsParams)> {
    let mut groups = Vec::new();
    let text_rate = config.model.text.lr_multiplier;
    if text_rate != 1.0
        && let TextEncoder::Bert(e) = &model.text_encoder
    {
        let mut bert = GradientsParams::new();
        move_into(&e.bert, &mut grads, &mut bert);
        groups.push((text_rate, bert));
    }
    let cnn_rate = config.model.pretrained_cnn.lr_multiplier;
    if cnn_rate != 1.0 {
        let mut cnn = GradientsParams::new();
        match &model.sign_encoder {
            SignEncoder::Frames(e) => move_into(&e.cnn, &mut grads, &mut cnn),
            SignEncoder::Fusion(f) => {
                if let Some(e) = &f.frames {
                    move_into(&e.cnn, &mut grads, &mut cnn);
                }
            }
            _ => {}
        }
        groups.push((cnn_rate, cnn));
    }
    groups.insert(0, (1.0, grads));
    groups
}

/// Moves the gradients of `module`'s parameters from `from` to `to`.
fn move_into<B: AutodiffBackend, M: Module<B>>(
    module: &M,
    from: &mut GradientsParams,
    to: &mut GradientsParams,
) {
    struct Mover<'a, B> {
        from: &'a mut GradientsParams,
        to: &'a mut GradientsParams,
        backend: PhantomData<B>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Mover<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.from.remove::<B::InnerBackend, D>(param.id) {
                self.to.register::<B::InnerBackend, D>(param.id, g);
            }
        }
    }
    module.visit(&mut Mover {
        from,
        to,
        backend: PhantomData::<B>,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::{Bool, Int, TensorData};
    use san_models::bert::{BertConfig, BertTextEncoderConfig};
    use san_models::pose_encoder::PoseEncoderConfig;
    use san_models::retrieval::{RetrievalModelConfig, SignEncoderConfig, TextEncoderConfig};

    type AD = Autodiff<NdArray<f32>>;

    #[test]
    fn bert_gradients_form_their_own_group() {
        let dev = Default::default();
        let bert = BertConfig::new(20)
            .with_hidden_size(8)
            .with_num_hidden_layers(2)
            .with_num_attention_heads(2)
            .with_intermediate_size(16)
            .with_max_position_embeddings(12);
        let model = RetrievalModelConfig::new(
            SignEncoderConfig::Pose(PoseEncoderConfig::new(4).with_hidden(8).with_dim(4)),
            TextEncoderConfig::Bert(BertTextEncoderConfig::new(bert).with_dim(4)),
        )
        .init::<AD>(&dev)
        .unwrap();
        let ids = Tensor::<AD, 2, Int>::from_data(TensorData::new(vec![2i64, 5, 3], [1, 3]), &dev);
        let mask = Tensor::<AD, 2, Bool>::ones([1, 3], &dev);
        let poses = Tensor::<AD, 3>::ones([1, 2, 4], &dev);
        let loss = model.encode_text_tokens(ids, mask.clone()).tokens.sum()
            + model
                .encode_poses(poses, Tensor::ones([1, 2], &dev))
                .unwrap()
                .tokens
                .sum();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let all = grads.len();
        let mut config = TrainConfig::new();
        assert_eq!(gradient_groups(&model, grads, &config).len(), 1);

        config.model.text.lr_multiplier = 0.1;
        let grads = {
            let loss = model
                .encode_text_tokens(
                    Tensor::from_data(TensorData::new(vec![2i64, 5, 3], [1, 3]), &dev),
                    mask,
                )
                .tokens
                .sum();
            GradientsParams::from_grads(loss.backward(), &model)
        };
        let groups = gradient_groups(&model, grads, &config);
        let sizes: Vec<(f64, usize)> = groups.iter().map(|(r, g)| (*r, g.len())).collect();
        // BERT: 5 embedding tensors + 16 per layer = 37 (the pooler has no gradient); the
        // projection's weight and bias stay in the base group.
        assert_eq!(sizes, vec![(1.0, 2), (0.1, 37)]);
        assert!(all > 37 + 2, "the pose encoder had gradients too: {all}");
    }
}
