//! This machine as a device (`local`): the profiler runs the device-runner as a child
//! process instead of over adb. Its description fills a LUT's device metadata.

use serde::Serialize;

use lookup_tables::lut::DeviceInfo;

/// The id that names this machine on the command line.
pub const LOCAL_ID: &str = "local";

/// The description of this machine.
#[derive(Clone, Debug, Serialize)]
pub struct LocalHost {
    /// Host name.
    pub hostname: String,
    /// CPU model (`model name` of /proc/cpuinfo).
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Distribution and kernel, e.g. `Debian GNU/Linux 12 (bookworm), Linux 6.1.0`.
    pub os: String,
    /// Android-style ABI name of this CPU (`x86_64`, `arm64-v8a`).
    pub abi: String,
}

/// The value of `key` in /proc/cpuinfo-style text (`key\t: value`).
pub fn cpuinfo_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// `PRETTY_NAME` of /etc/os-release text, unquoted.
pub fn os_release_name(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').to_string())
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Describes this machine from /proc and /etc, without running anything.
pub fn describe() -> LocalHost {
    let cpuinfo = read("/proc/cpuinfo");
    let distro = os_release_name(&read("/etc/os-release"))
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    LocalHost {
        hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
        cpu: cpuinfo_field(&cpuinfo, "model name")
            .or_else(|| cpuinfo_field(&cpuinfo, "Hardware"))
            .unwrap_or_else(|| std::env::consts::ARCH.to_string()),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        os: if kernel.is_empty() {
            distro
        } else {
            format!("{distro}, Linux {kernel}")
        },
        abi: device_runner::info::abi().to_string(),
    }
}

impl LocalHost {
    /// The LUT device metadata of this machine: the CPU model stands for the device
    /// model, since two hosts with the same CPU give comparable tables.
    pub fn device_info(&self) -> DeviceInfo {
        DeviceInfo {
            model: self.cpu.clone(),
            soc: format!("{} × {}", self.cpus, self.cpu),
            os: self.os.clone(),
            abi: self.abi.clone(),
            serials: vec![LOCAL_ID.to_string()],
            ..DeviceInfo::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_files() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n";
        assert_eq!(
            cpuinfo_field(cpuinfo, "model name").as_deref(),
            Some("AMD EPYC 7B13")
        );
        let arm = "Processor\t: AArch64 Processor rev 4 (aarch64)\nHardware\t: Qualcomm Technologies, Inc SDM845\n";
        assert_eq!(
            cpuinfo_field(arm, "Hardware").as_deref(),
            Some("Qualcomm Technologies, Inc SDM845")
        );
        let osr = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n";
        assert_eq!(
            os_release_name(osr).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn describes_this_machine() {
        let h = describe();
        assert!(h.cpus >= 1);
        assert_eq!(h.device_info().serials, [LOCAL_ID]);
    }
}
