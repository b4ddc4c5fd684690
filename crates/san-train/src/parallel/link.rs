//! Who takes part: the devices of this machine, the machines, and each peer's rank.

use std::str::FromStr;

use burn::tensor::backend::{Backend, Device, DeviceId};
use burn::tensor::{Tensor, TensorPrimitive};
use burn_collective::{
    CollectiveConfig, PeerId, ReduceOperation, all_reduce, finish_collective, register,
    reset_collective,
};
use burn_communication::Address;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Why several machines are refused: measured with two processes on one machine on
/// 2026-11-30, the first global all-reduce completes and the second never returns.
pub const GLOBAL_BLOCKER: &str = "0.21.0: its global mode hangs in the second all-reduce (each machine's sync barrier in global/node/sync.rs clears a copy of its list of synced machines, not the list, so every sync after the first waits forever); the peers of one machine (--devices) are not affected";

/// Several machines (Burn's global collective mode). Every machine runs the same command
/// with its own `node_rank`; an orchestrator (`san orchestrator --port P`) must be running
/// at `orchestrator`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalPeers {
    /// Number of machines.
    pub nodes: usize,
    /// This machine's rank, `0..nodes`; machine 0 writes the outputs.
    pub node_rank: usize,
    /// The orchestrator's address, e.g. `ws://10.0.0.1:3000`.
    pub orchestrator: String,
    /// This machine's address as the others reach it, e.g. `ws://10.0.0.2:3001`.
    pub node_address: String,
    /// The port on which this machine serves tensors to the others.
    pub data_port: u16,
}

/// The peers of a run. The default is one device, no collectives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParallelOptions {
    /// Device indices of this machine (`[0, 1]` for `cuda:0,cuda:1`); empty means the one
    /// device the run is given. On a CPU backend every index names the same device: the
    /// peers are threads sharing its cores.
    pub devices: Vec<usize>,
    /// Several machines; `None` for this machine only.
    pub global: Option<GlobalPeers>,
}

impl ParallelOptions {
    /// `n` devices of this machine: indices `0..n`.
    pub fn local(n: usize) -> Self {
        Self {
            devices: (0..n).collect(),
            global: None,
        }
    }

    /// Peers on this machine (at least 1).
    pub fn local_peers(&self) -> usize {
        self.devices.len().max(1)
    }

    /// Peers in all (machines × peers per machine).
    pub fn world(&self) -> usize {
        self.local_peers() * self.global.as_ref().map_or(1, |g| g.nodes)
    }

    /// Whether a step needs collectives.
    pub fn is_parallel(&self) -> bool {
        self.world() > 1
    }

    /// Whether this process writes checkpoints, reports and the model (machine 0).
    pub fn writes(&self) -> bool {
        self.global.as_ref().is_none_or(|g| g.node_rank == 0)
    }

    /// A config error for settings that cannot work.
    pub fn validate(&self) -> Result<()> {
        let mut seen = self.devices.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != self.devices.len() {
            return Err(TrainError::Config(format!(
                "devices {:?}: a device is named twice; expected distinct indices",
                self.devices
            )));
        }
        if let Some(g) = &self.global {
            if g.nodes > 1 {
                return Err(TrainError::Config(format!(
                    "{} machines: training across machines is not available with burn-collective {GLOBAL_BLOCKER}",
                    g.nodes
                )));
            }
            if g.nodes == 0 || g.node_rank >= g.nodes {
                return Err(TrainError::Config(format!(
                    "node rank {} of {} machines: expected a rank in 0..{}",
                    g.node_rank, g.nodes, g.nodes
                )));
            }
            for (what, a) in [
                ("orchestrator", &g.orchestrator),
                ("node address", &g.node_address),
            ] {
                if !(a.starts_with("ws://") || a.starts_with("wss://")) {
                    return Err(TrainError::Config(format!(
                        "{what} {a:?}: expected a websocket address such as ws://10.0.0.1:3000"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The devices of this machine's peers: `first`'s kind at each index (the first
    /// device alone when `devices` is empty).
    pub fn peer_devices<B: Backend>(&self, first: &B::Device) -> Vec<B::Device> {
        if self.devices.is_empty() {
            return vec![first.clone()];
        }
        let kind = first.to_id().type_id;
        self.devices
            .iter()
            .map(|&i| <B::Device as Device>::from_id(DeviceId::new(kind, i as u16)))
            .collect()
    }

    /// The link of this machine's `local`-th peer.
    pub fn link(&self, local: usize) -> PeerLink {
        let base = self
            .global
            .as_ref()
            .map_or(0, |g| g.node_rank * self.local_peers());
        PeerLink {
            rank: base + local,
            world: self.world(),
        }
    }

    /// Burn's collective config for these peers.
    pub fn collective_config(&self) -> Result<CollectiveConfig> {
        let config = CollectiveConfig::default().with_num_devices(self.local_peers());
        let Some(g) = &self.global else {
            return Ok(config);
        };
        let address = |a: &str| {
            Address::from_str(a).map_err(|e| TrainError::Config(format!("address {a:?}: {e}")))
        };
        Ok(config
            .with_num_nodes(g.nodes as u32)
            .with_global_address(address(&g.orchestrator)?)
            .with_node_address(address(&g.node_address)?)
            .with_data_service_port(g.data_port))
    }
}

/// One peer: its rank among all peers and their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLink {
    /// 0-based rank; peer 0 writes.
    pub rank: usize,
    /// Number of peers.
    pub world: usize,
}

impl PeerLink {
    /// A world of one: every collective is the identity.
    pub fn single() -> Self {
        Self { rank: 0, world: 1 }
    }

    fn id(&self) -> PeerId {
        PeerId::from(self.rank)
    }

    fn error(&self, what: &str, e: impl std::fmt::Debug) -> TrainError {
        TrainError::Collective {
            rank: self.rank,
            problem: format!("{what}: {e:?}"),
        }
    }

    /// Joins the collective on `device` (blocks until every peer of this machine has).
    pub fn register<B: Backend>(&self, device: &B::Device, config: CollectiveConfig) -> Result<()> {
        if self.world == 1 {
            return Ok(());
        }
        register::<B>(self.id(), device.clone(), config).map_err(|e| self.error("register", e))
    }

    /// Leaves the collective.
    pub fn finish<B: Backend>(&self) -> Result<()> {
        if self.world == 1 {
            return Ok(());
        }
        finish_collective::<B>(self.id()).map_err(|e| self.error("finish", e))
    }

    /// Forgets every peer and pending operation of this process's collective (after an
    /// error, so that the next run starts clean).
    pub fn reset<B: Backend>() {
        reset_collective::<B>();
    }

    /// The element-wise sum of `t` over all peers (every peer passes the same shape).
    pub fn sum<B: Backend>(&self, t: Tensor<B, 1>) -> Result<Tensor<B, 1>> {
        if self.world == 1 {
            return Ok(t);
        }
        let out = all_reduce::<B>(self.id(), t.into_primitive().tensor(), ReduceOperation::Sum)
            .map_err(|e| self.error("all-reduce", e))?;
        Ok(Tensor::from_primitive(TensorPrimitive::Float(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_ranks_and_writer() {
        let local = ParallelOptions::local(3);
        assert_eq!((local.world(), local.link(2).rank), (3, 2));
        assert!(local.writes() && local.is_parallel());
        assert!(!ParallelOptions::default().is_parallel());
        let global = ParallelOptions {
            devices: vec![0, 1],
            global: Some(GlobalPeers {
                nodes: 3,
                node_rank: 1,
                orchestrator: "ws://10.0.0.1:3000".into(),
                node_address: "ws://10.0.0.2:3001".into(),
                data_port: 3001,
            }),
        };
        // machine 1's peers are ranks 2 and 3 of 6
        assert_eq!(global.world(), 6);
        assert_eq!((global.link(0).rank, global.link(1).rank), (2, 3));
        assert!(!global.writes());
        assert!(global.collective_config().is_ok());
        // burn-collective 0.21.0's global mode hangs (GLOBAL_BLOCKER): refused, saying why
        assert!(matches!(global.validate(), Err(TrainError::Config(m)) if m.contains("sync.rs")));
    }

    #[test]
    fn bad_peer_settings_are_config_errors() {
        let twice = ParallelOptions {
            devices: vec![0, 0],
            global: None,
        };
        assert!(matches!(twice.validate(), Err(TrainError::Config(m)) if m.contains("twice")));
        let mut g = GlobalPeers {
            nodes: 1,
            node_rank: 1,
            orchestrator: "ws://a:1".into(),
            node_address: "ws://b:2".into(),
            data_port: 2,
        };
        let opts = |g: &GlobalPeers| ParallelOptions {
            devices: vec![],
            global: Some(g.clone()),
        };
        assert!(opts(&g).validate().is_err());
        g.node_rank = 0;
        g.orchestrator = "10.0.0.1:3000".into();
        assert!(matches!(opts(&g).validate(), Err(TrainError::Config(m)) if m.contains("ws://")));
    }
}
