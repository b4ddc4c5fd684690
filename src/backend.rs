//! Backend selection for binaries, examples and benches: `--device cpu|wgpu|cuda`, each
//! available when its cargo feature is on.

use std::fmt;
use std::str::FromStr;

use burn::tensor::backend::AutodiffBackend;
use san_core::similarity::ClclKernel;
use san_train::config::TrainConfig;

use crate::error::CliError;

/// A device named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceChoice {
    /// The ndarray CPU backend (feature `ndarray`, the default).
    Cpu,
    /// The WGPU backend (feature `wgpu`).
    Wgpu,
    /// The CUDA backend (feature `cuda`).
    Cuda,
}

impl FromStr for DeviceChoice {
    type Err = CliError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "wgpu" => Ok(Self::Wgpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(CliError::arg(
                format!("--device {other}"),
                "unknown device; expected cpu, wgpu or cuda",
            )),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Wgpu => "wgpu",
            Self::Cuda => "cuda",
        })
    }
}

impl DeviceChoice {
    /// The CLCL gallery kernel for this device: the fused host kernel on the CPU, backend
    /// tensor operations elsewhere.
    pub fn clcl_kernel(self) -> ClclKernel {
        match self {
            Self::Cpu => ClclKernel::Fused,
            Self::Wgpu | Self::Cuda => ClclKernel::Tensor,
        }
    }

    /// The default training config on this device (`eval.kernel` from
    /// [`clcl_kernel`](Self::clcl_kernel)).
    pub fn train_config(self) -> TrainConfig {
        let mut config = TrainConfig::new();
        config.eval.kernel = self.clcl_kernel();
        config
    }
}

/// Work to run on whichever autodiff backend the user picked.
pub trait BackendJob {
    /// What the job returns.
    type Output;
    /// Runs the job on backend `B`.
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output;
}

/// Runs `job` on the chosen device; an error says which cargo feature is missing.
pub fn dispatch<J: BackendJob>(choice: DeviceChoice, job: J) -> Result<J::Output, CliError> {
    match choice {
        #[cfg(feature = "ndarray")]
        DeviceChoice::Cpu => {
            Ok(job.run::<burn::backend::Autodiff<burn::backend::NdArray<f32>>>(Default::default()))
        }
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu => {
            Ok(job.run::<burn::backend::Autodiff<burn::backend::Wgpu>>(Default::default()))
        }
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda => {
            Ok(job.run::<burn::backend::Autodiff<burn::backend::Cuda>>(Default::default()))
        }
        #[allow(unreachable_patterns)]
        other => {
            let feature = match other {
                DeviceChoice::Cpu => "ndarray",
                DeviceChoice::Wgpu => "wgpu",
                DeviceChoice::Cuda => "cuda",
            };
            Err(CliError::Backend {
                device: other.to_string(),
                feature,
            })
        }
    }
}
