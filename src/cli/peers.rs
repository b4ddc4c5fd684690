//! `--devices`, `--nodes` and friends: the peers that share each training batch, and
//! `san orchestrator`, the coordinator of several machines.

use san_train::parallel::{GlobalPeers, ParallelOptions};

use crate::backend::DeviceChoice;
use crate::error::{CliError, Result};

/// Data-parallel settings of `san train`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PeerArgs {
    /// Devices of this machine that share each batch: a count (`2`: devices 0 and 1 of
    /// --device's kind; on a CPU backend, 2 threads sharing its cores) or a list
    /// (`cuda:0,cuda:1`, or `0,2`). The gradients are exactly one device's on the whole
    /// batch; see the README, "Several devices".
    #[arg(long, value_name = "N|LIST")]
    pub devices: Option<String>,
    /// Machines in all (Burn's global collective mode): every machine runs the same
    /// command with its own --node-rank, after `san orchestrator --port P` is started on
    /// one of them. Machine 0 writes the outputs.
    #[arg(long, requires_all = ["node_rank", "orchestrator", "node_address"])]
    pub nodes: Option<usize>,
    /// This machine's rank, 0..nodes.
    #[arg(long, requires = "nodes")]
    pub node_rank: Option<usize>,
    /// The orchestrator's address, e.g. ws://10.0.0.1:3000.
    #[arg(long, requires = "nodes")]
    pub orchestrator: Option<String>,
    /// This machine's address as the others reach it, e.g. ws://10.0.0.2:3001 (its port
    /// is --data-port).
    #[arg(long, requires = "nodes")]
    pub node_address: Option<String>,
    /// The port on which this machine serves tensors to the others.
    #[arg(long, default_value_t = 3001)]
    pub data_port: u16,
}

impl PeerArgs {
    /// The run's peers on `device`'s kind; an argument error names the flag.
    pub fn options(&self, device: DeviceChoice) -> Result<ParallelOptions> {
        let devices = match &self.devices {
            None => Vec::new(),
            Some(s) => parse_devices(s, device)?,
        };
        let global = match (
            self.nodes,
            self.node_rank,
            &self.orchestrator,
            &self.node_address,
        ) {
            (Some(nodes), Some(node_rank), Some(orchestrator), Some(node_address)) => {
                Some(GlobalPeers {
                    nodes,
                    node_rank,
                    orchestrator: orchestrator.clone(),
                    node_address: node_address.clone(),
                    data_port: self.data_port,
                })
            }
            _ => None,
        };
        let options = ParallelOptions { devices, global };
        options
            .validate()
            .map_err(|e| CliError::arg("--devices/--nodes", e.to_string()))?;
        Ok(options)
    }
}

/// `2` → devices 0 and 1; `cuda:0,cuda:1` or `0,1` → those indices (a named kind must be
/// --device's).
fn parse_devices(s: &str, device: DeviceChoice) -> Result<Vec<usize>> {
    let bad = |why: String| CliError::arg(format!("--devices {s}"), why);
    if !s.contains(',') && !s.contains(':') {
        let n: usize = s
            .trim()
            .parse()
            .map_err(|_| bad("expected a count (2) or a list of devices (cuda:0,cuda:1)".into()))?;
        if n == 0 {
            return Err(bad("expected at least 1 device".into()));
        }
        return Ok((0..n).collect());
    }
    s.split(',')
        .map(|item| {
            let item = item.trim();
            let index = match item.split_once(':') {
                Some((kind, index)) => {
                    let named = format!("{device:?}").to_lowercase();
                    if kind != device.backend_name() && kind != named {
                        return Err(bad(format!(
                            "{item}: a {kind} device, but --device is {device}; expected {}:N",
                            device.backend_name()
                        )));
                    }
                    index
                }
                None => item,
            };
            index
                .parse()
                .map_err(|_| bad(format!("{item}: expected a device index such as 0")))
        })
        .collect()
}

/// `san orchestrator`.
#[derive(Debug, Clone, clap::Args)]
pub struct OrchestratorArgs {
    /// The port the machines' `--orchestrator ws://HOST:PORT` points at.
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
}

/// Runs Burn's global collective orchestrator until interrupted.
pub fn orchestrator(args: &OrchestratorArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::arg("orchestrator", format!("cannot start its runtime: {e}")))?;
    println!("orchestrator listening on port {}", args.port);
    runtime.block_on(burn_collective::start_global_orchestrator(args.port));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_as_counts_and_lists() {
        let cuda = DeviceChoice::Cuda;
        assert_eq!(parse_devices("2", cuda).unwrap(), vec![0, 1]);
        assert_eq!(parse_devices("cuda:0,cuda:3", cuda).unwrap(), vec![0, 3]);
        assert_eq!(parse_devices("1,2", cuda).unwrap(), vec![1, 2]);
        assert_eq!(
            parse_devices("cpu:0,cpu:1", DeviceChoice::Cpu).unwrap(),
            vec![0, 1]
        );
        assert!(parse_devices("wgpu:0,wgpu:1", cuda).is_err());
        assert!(parse_devices("0", cuda).is_err());
        assert!(parse_devices("two", cuda).is_err());
        let twice = PeerArgs {
            devices: Some("0,0".into()),
            ..Default::default()
        };
        assert!(twice.options(cuda).is_err());
    }
}
