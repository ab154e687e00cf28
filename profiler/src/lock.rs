//! One profiler per device: a lock folder on the device itself (`mkdir` is atomic on
//! every file system adb reaches), holding who took it. A second profiler, from this or
//! another host, is refused with the holder's name; a lock left by a process of this
//! host that no longer exists is taken over.

use crate::device::Device;
use crate::error::{Error, Result};

/// A held device lock; release it with [`DeviceLock::release`].
pub struct DeviceLock {
    path: String,
}

/// This host's name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// `host=… pid=… since=…` as key → value.
fn owner_fields(text: &str) -> std::collections::HashMap<&str, &str> {
    text.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

fn pid_alive(pid: &str) -> bool {
    std::path::Path::new("/proc").join(pid).exists()
}

/// The lock folder of a device.
pub fn lock_path(device: &Device) -> String {
    format!("{}/lock", device.work_root())
}

impl DeviceLock {
    /// Takes the device's lock or says who holds it.
    pub fn acquire(device: &Device) -> Result<DeviceLock> {
        let root = device.work_root();
        let path = lock_path(device);
        device.check(&["mkdir", "-p", &root])?;
        for attempt in 0..2 {
            if device.run(&["mkdir", &path], None, Some(30))?.code == 0 {
                let owner = format!(
                    "host={} pid={} since={}",
                    hostname(),
                    std::process::id(),
                    lookup_tables::lut::utc_rfc3339(lookup_tables::lut::unix_now())
                );
                device.check(&[
                    "sh",
                    "-c",
                    "printf '%s\\n' \"$1\" > \"$2\"",
                    "sh",
                    &owner,
                    &format!("{path}/owner"),
                ])?;
                return Ok(DeviceLock { path });
            }
            let owner = device
                .run(&["cat", &format!("{path}/owner")], None, Some(30))?
                .stdout;
            let f = owner_fields(&owner);
            let stale = match (f.get("host"), f.get("pid")) {
                (Some(h), Some(p)) => *h == hostname() && !pid_alive(p),
                // Taken but never written: its owner died between the two steps.
                _ => attempt == 0 && owner.trim().is_empty(),
            };
            if !stale || attempt == 1 {
                return Err(Error::Locked {
                    device: device.id().to_string(),
                    holder: owner.trim().to_string(),
                    lock: path,
                });
            }
            tracing::warn!(
                "device {}: taking over the lock of a profiler that is gone ({})",
                device.id(),
                owner.trim()
            );
            device.check(&["rm", "-rf", &path])?;
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// Gives the lock back.
    pub fn release(self, device: &Device) -> Result<()> {
        device.check(&["rm", "-rf", &self.path]).map(|_| ())
    }
}

/// Removes a device's lock whoever holds it (`moga devices --unlock`).
pub fn force_unlock(device: &Device) -> Result<()> {
    device.check(&["rm", "-rf", &lock_path(device)]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalDevice;

    #[test]
    fn a_second_profiler_is_refused_by_name_and_a_dead_one_is_replaced() {
        let root = std::env::temp_dir().join(format!("moga-lock-{}", std::process::id()));
        let dev = Device::Local(LocalDevice {
            work_root: root.clone(),
        });
        let lock = DeviceLock::acquire(&dev).unwrap();
        let err = DeviceLock::acquire(&dev).err().unwrap().to_string();
        assert!(
            err.contains("is being profiled by host=")
                && err.contains(&format!("pid={}", std::process::id())),
            "{err}"
        );
        lock.release(&dev).unwrap();
        // A lock from a process of this host that no longer runs is taken over.
        std::fs::create_dir_all(root.join("lock")).unwrap();
        std::fs::write(
            root.join("lock/owner"),
            format!("host={} pid=4000000000 since=x\n", hostname()),
        )
        .unwrap();
        DeviceLock::acquire(&dev).unwrap().release(&dev).unwrap();
        // Another host's lock is respected.
        std::fs::create_dir_all(root.join("lock")).unwrap();
        std::fs::write(root.join("lock/owner"), "host=elsewhere pid=1 since=x\n").unwrap();
        assert!(DeviceLock::acquire(&dev).is_err());
        force_unlock(&dev).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }
}
