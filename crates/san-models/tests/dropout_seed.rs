//! `B::seed` decides the host-drawn dropout masks. This is its own test binary because the
//! backend's generator is process state: in the library's test binary, other tests draw from
//! it between a seed and a draw.

use burn::backend::{Autodiff, NdArray};
use burn::nn::DropoutConfig;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use san_models::dropout::{DropoutMasks, dropout_with};

type AD = Autodiff<NdArray<f32>>;

#[test]
fn host_masks_follow_the_backend_seed() {
    let device = Default::default();
    let module = DropoutConfig::new(0.25).init();
    let x = Tensor::<AD, 2>::ones([64, 64], &device);
    let host = |x| dropout_with(&module, x, DropoutMasks::Host).into_data();
    AD::seed(&device, 11);
    let a = host(x.clone());
    let a_next = host(x.clone());
    AD::seed(&device, 11);
    let b = host(x.clone());
    let b_next = host(x.clone());
    assert_eq!(a, b, "B::seed decides the first host mask");
    assert_eq!(a_next, b_next, "and the ones after it");
    assert_ne!(a, a_next, "each call draws a new mask");
    AD::seed(&device, 12);
    assert_ne!(host(x.clone()), a, "another seed, another mask");
}
