//! This machine's peers as threads. Peer 0 (the calling thread) runs the stage loop: it
//! builds each batch, keeps its own share and hands every other peer its share; each peer
//! holds a replica of the model and of the optimiser, and applies the same summed
//! gradients, so the replicas stay equal (checked after every epoch).

use std::marker::PhantomData;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::Scope;

use burn::module::Module;
use burn::optim::Optimizer;
use burn::tensor::backend::{AutodiffBackend, Backend};
use san_models::retrieval::{RetrievalModel, materialize};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::parallel::grads::check_in_sync;
use crate::parallel::link::{ParallelOptions, PeerLink};
use crate::parallel::share::{HostShare, Share, share_gradients};
use crate::step::{StepBatch, apply_gradients, finite_loss};

/// What peer 0 asks of another peer.
enum Order {
    /// One optimiser step on this share, at this learning rate.
    Step(Box<HostShare>, f64),
    /// Compare parameters with every peer.
    Check,
}

/// The other peers of this machine, seen from peer 0.
pub struct Peers<B: AutodiffBackend> {
    orders: Vec<Sender<Order>>,
    replies: Receiver<Result<()>>,
    link: PeerLink,
    device: B::Device,
}

/// How a stage takes its optimiser steps: on one device, or split over peers.
pub enum Stepper<'a, B: AutodiffBackend> {
    /// One device.
    Local,
    /// This machine's peers (and the other machines').
    Peers(&'a Peers<B>),
}

impl<B: AutodiffBackend> Stepper<'_, B> {
    /// One optimiser step on `batch` (the whole batch, as every peer 0 builds it): with
    /// peers, each takes its share and all apply the summed gradients. Returns the
    /// updated model and the batch's loss.
    pub fn step<O: Optimizer<RetrievalModel<B>, B>>(
        &self,
        model: RetrievalModel<B>,
        optim: &mut O,
        batch: StepBatch<B>,
        config: &TrainConfig,
        lr: f64,
    ) -> Result<(RetrievalModel<B>, f64)> {
        match self {
            Self::Local => crate::step::train_step(model, optim, batch, config, lr),
            Self::Peers(peers) => peers.step(model, optim, batch, config, lr),
        }
    }

    /// After an epoch: an error unless every peer holds peer 0's parameters.
    pub fn check(&self, model: &RetrievalModel<B>) -> Result<()> {
        match self {
            Self::Local => Ok(()),
            Self::Peers(peers) => peers.check(model),
        }
    }
}

impl<B: AutodiffBackend> Peers<B> {
    fn step<O: Optimizer<RetrievalModel<B>, B>>(
        &self,
        model: RetrievalModel<B>,
        optim: &mut O,
        batch: StepBatch<B>,
        config: &TrainConfig,
        lr: f64,
    ) -> Result<(RetrievalModel<B>, f64)> {
        let world = self.link.world;
        for (i, tx) in self.orders.iter().enumerate() {
            let share = Share::of(&batch, world, self.link.rank + 1 + i).to_host();
            // A closed channel means the peer has stopped with an error, which its reply
            // carries.
            let _ = tx.send(Order::Step(Box::new(share), lr));
        }
        let own = Share::of(&batch, world, self.link.rank);
        let mine = share_gradients(&model, own, config, &self.link).and_then(|(grads, value)| {
            finite_loss(value)?;
            Ok((apply_gradients(model, optim, grads, config, lr), value))
        });
        self.collect(mine)
    }

    fn check(&self, model: &RetrievalModel<B>) -> Result<()> {
        for tx in &self.orders {
            let _ = tx.send(Order::Check);
        }
        let mine = check_in_sync(&self.link, model, &self.device);
        self.collect(mine)
    }

    /// Peer 0's result, unless another peer of this machine failed.
    fn collect<T>(&self, mine: Result<T>) -> Result<T> {
        let mut first_error = None;
        for _ in &self.orders {
            match self.replies.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(TrainError::Collective {
                        rank: self.link.rank,
                        problem: "a peer thread stopped without replying".into(),
                    });
                }
            }
        }
        match (mine, first_error) {
            (Err(e), _) | (Ok(_), Some(e)) => Err(e),
            (Ok(v), None) => Ok(v),
        }
    }
}

/// Runs `job` with this machine's peers: one thread per device after the first, each
/// with `model` moved to its device and the optimiser `optim` makes there (fresh, or read
/// from a checkpoint). Peer 0's job gets a [`Stepper`]; with one peer in all it is
/// [`Stepper::Local`] and no thread or collective is started.
pub fn with_peers<B, O, R>(
    options: &ParallelOptions,
    devices: &[B::Device],
    model: &RetrievalModel<B>,
    config: &TrainConfig,
    optim: &(dyn Fn(&B::Device) -> Result<O> + Sync),
    job: impl FnOnce(&Stepper<'_, B>) -> Result<R>,
) -> Result<R>
where
    B: AutodiffBackend,
    O: Optimizer<RetrievalModel<B>, B>,
{
    if !options.is_parallel() {
        return job(&Stepper::Local);
    }
    let collective = options.collective_config()?;
    // A fresh model's parameters are drawn when first read; each peer's copy would draw
    // its own.
    materialize(model);
    let (reply_tx, replies) = channel();
    std::thread::scope(|s: &Scope<'_, '_>| {
        let mut orders = Vec::new();
        for (i, device) in devices.iter().enumerate().skip(1) {
            let (tx, rx) = channel();
            orders.push(tx);
            let link = options.link(i);
            let (reply, model, collective) = (reply_tx.clone(), model.clone(), collective.clone());
            s.spawn(move || {
                let run = || -> Result<()> {
                    link.register::<B::InnerBackend>(device, collective)?;
                    let model = model.fork(device);
                    let optim = optim(device)?;
                    follow(link, device, model, optim, config, rx, &reply);
                    link.finish::<B::InnerBackend>()
                };
                if let Err(e) = run() {
                    let _ = reply.send(Err(e));
                }
            });
        }
        drop(reply_tx);
        // If peer 0 fails or panics, the collective is reset before the threads are
        // joined, so that peers waiting in an all-reduce peer 0 will not join return.
        let mut guard = ResetOnDrop::<B::InnerBackend>(true, PhantomData);
        let link = options.link(0);
        let peers = Peers {
            orders,
            replies,
            link,
            device: devices[0].clone(),
        };
        let out = link
            .register::<B::InnerBackend>(&devices[0], collective)
            .and_then(|()| job(&Stepper::Peers(&peers)));
        if out.is_ok() {
            guard.0 = false;
            link.finish::<B::InnerBackend>()?;
        }
        drop(peers);
        drop(guard);
        out
    })
}

/// Resets this process's collective when dropped armed.
struct ResetOnDrop<B: Backend>(bool, PhantomData<B>);

impl<B: Backend> Drop for ResetOnDrop<B> {
    fn drop(&mut self) {
        if self.0 {
            PeerLink::reset::<B>();
        }
    }
}

/// A peer's loop: each order from peer 0, until peer 0 hangs up.
fn follow<B: AutodiffBackend, O: Optimizer<RetrievalModel<B>, B>>(
    link: PeerLink,
    device: &B::Device,
    mut model: RetrievalModel<B>,
    mut optim: O,
    config: &TrainConfig,
    orders: Receiver<Order>,
    reply: &Sender<Result<()>>,
) {
    for order in orders {
        let result = match order {
            Order::Step(share, lr) => {
                match share_gradients(&model, share.to_device(device), config, &link)
                    .and_then(|(grads, value)| finite_loss(value).map(|_| grads))
                {
                    Ok(grads) => {
                        model = apply_gradients(model, &mut optim, grads, config, lr);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Order::Check => check_in_sync(&link, &model, device),
        };
        if reply.send(result).is_err() {
            return;
        }
    }
}
