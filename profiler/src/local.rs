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

/// This machine as a device: commands run as child processes, files are copied.
pub struct LocalDevice {
    /// Where moga keeps the device's files.
    pub work_root: std::path::PathBuf,
}

impl LocalDevice {
    /// Runs `argv` in `dir` (no shell involved), killed after `timeout_s` when given
    /// (exit status 137, as a shell reports SIGKILL).
    pub fn run(
        &self,
        argv: &[&str],
        dir: Option<&str>,
        timeout_s: Option<u64>,
    ) -> crate::error::Result<crate::adb::ShellOutput> {
        use std::io::Read;
        use std::process::{Command, Stdio};
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| crate::error::Error::device(LOCAL_ID, "empty command"))?;
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| crate::error::Error::device(LOCAL_ID, format!("starting {prog}: {e}")))?;
        let pump = |r: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut v);
                }
                String::from_utf8_lossy(&v).into_owned()
            })
        };
        let out = pump(
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn Read + Send>),
        );
        let err = pump(
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn Read + Send>),
        );
        let deadline =
            timeout_s.map(|t| std::time::Instant::now() + std::time::Duration::from_secs(t));
        let status = loop {
            if let Some(s) = child
                .try_wait()
                .map_err(|e| crate::error::Error::device(LOCAL_ID, e.to_string()))?
            {
                break Some(s);
            }
            if deadline.is_some_and(|d| std::time::Instant::now() > d) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        let code = match status {
            None => 137,
            Some(s) => s.code().unwrap_or_else(|| {
                #[cfg(unix)]
                {
                    use std::os::unix::process::ExitStatusExt;
                    128 + s.signal().unwrap_or(0)
                }
                #[cfg(not(unix))]
                1
            }),
        };
        Ok(crate::adb::ShellOutput {
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
            code,
        })
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
