//! Backend selection for binaries, examples and benches: `--device cpu|ndarray|flex|wgpu|cuda`,
//! each available when its cargo feature is on. `cpu` is the build's CPU backend: burn-flex
//! when the `flex` feature is on, else burn-ndarray.

use std::fmt;
use std::str::FromStr;

use burn::tensor::backend::AutodiffBackend;
use san_core::similarity::ClclKernel;
use san_models::dropout::{DropoutMasks, with_dropout_masks};
use san_train::config::TrainConfig;

use crate::error::CliError;

/// The build's CPU backend, what `--device cpu` runs: burn-flex when the `flex` feature is
/// on, else burn-ndarray.
#[cfg(feature = "flex")]
pub type Cpu = burn::backend::Flex;
/// The build's CPU backend, what `--device cpu` runs: burn-flex when the `flex` feature is
/// on, else burn-ndarray.
#[cfg(all(feature = "ndarray", not(feature = "flex")))]
pub type Cpu = burn::backend::NdArray<f32>;

/// A device named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceChoice {
    /// The build's CPU backend: flex when built (feature `flex`), else ndarray.
    Cpu,
    /// burn-ndarray (feature `ndarray`).
    Ndarray,
    /// burn-flex (feature `flex`).
    Flex,
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
            "ndarray" => Ok(Self::Ndarray),
            "flex" => Ok(Self::Flex),
            "wgpu" => Ok(Self::Wgpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(CliError::arg(
                format!("--device {other}"),
                "unknown device; expected cpu, ndarray, flex, wgpu or cuda",
            )),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu if cfg!(feature = "flex") => "cpu (flex)",
            Self::Cpu => "cpu (ndarray)",
            Self::Ndarray => "ndarray",
            Self::Flex => "flex",
            Self::Wgpu => "wgpu",
            Self::Cuda => "cuda",
        })
    }
}

impl DeviceChoice {
    /// `cpu` resolved to the CPU backend this build has (flex over ndarray); the others
    /// unchanged.
    pub fn resolved(self) -> Self {
        match self {
            Self::Cpu if cfg!(feature = "flex") => Self::Flex,
            Self::Cpu => Self::Ndarray,
            other => other,
        }
    }

    /// The backend's name, for console headers and reports: `ndarray`, `flex`, `wgpu`,
    /// `cuda`.
    pub fn backend_name(self) -> &'static str {
        match self.resolved() {
            Self::Flex => "flex",
            Self::Wgpu => "wgpu",
            Self::Cuda => "cuda",
            Self::Cpu | Self::Ndarray => "ndarray",
        }
    }

    /// The CLCL gallery kernel for this device: the fused host kernel on a CPU backend,
    /// backend tensor operations elsewhere.
    pub fn clcl_kernel(self) -> ClclKernel {
        match self {
            Self::Cpu | Self::Ndarray | Self::Flex => ClclKernel::Fused,
            Self::Wgpu | Self::Cuda => ClclKernel::Tensor,
        }
    }

    /// Where dropout masks are drawn on this device: in bulk on the host for a CPU
    /// backend (Burn's per-element sampler is about 15% of a CPU training step), by the
    /// backend elsewhere. [`dispatch`] applies it.
    pub fn dropout_masks(self) -> DropoutMasks {
        match self {
            Self::Cpu | Self::Ndarray | Self::Flex => DropoutMasks::Host,
            Self::Wgpu | Self::Cuda => DropoutMasks::Backend,
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

/// Runs `job` on the chosen device, with dropout masks drawn where
/// [`DeviceChoice::dropout_masks`] says (the previous choice is restored afterwards); an
/// error says which cargo feature is missing.
pub fn dispatch<J: BackendJob>(choice: DeviceChoice, job: J) -> Result<J::Output, CliError> {
    with_dropout_masks(choice.dropout_masks(), || run_on(choice, job))
}

fn run_on<J: BackendJob>(choice: DeviceChoice, job: J) -> Result<J::Output, CliError> {
    match choice.resolved() {
        #[cfg(feature = "ndarray")]
        DeviceChoice::Ndarray => {
            Ok(job.run::<burn::backend::Autodiff<burn::backend::NdArray<f32>>>(Default::default()))
        }
        #[cfg(feature = "flex")]
        DeviceChoice::Flex => {
            Ok(job.run::<burn::backend::Autodiff<burn::backend::Flex>>(Default::default()))
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
                DeviceChoice::Cpu | DeviceChoice::Ndarray => "ndarray",
                DeviceChoice::Flex => "flex",
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
