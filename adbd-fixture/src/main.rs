//! `moga-adbd-fixture --root DIR [--port N] [--serial S] [--model M] [--soc S] [--abi A]
//! [--disk-full] [--no-vulkan] [--gles 'VENDOR, RENDERER, VERSION']
//! [--thermal-zone TYPE=MILLIDEGREES]... [--cpu-freq POLICY=KHZ]... [--gpu-clock HZ]
//! [--battery-temp TENTHS] [--thermal-script FILE]`:
//! serves one fake device on 127.0.0.1 and prints `listening 127.0.0.1:PORT` once ready.
//! A thermal script (see `adbd_fixture::thermal`) heats the device while its programs
//! run, drives the readings above from that, and slows the programs while throttled.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use adbd_fixture::server::{Config, serve};
use adbd_fixture::thermal::Script;

fn main() -> ExitCode {
    let mut cfg = Config::default();
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let r: Result<(), String> = match a.as_str() {
            "--root" => value("--root").map(|v| cfg.root = PathBuf::from(v)),
            "--port" => value("--port").and_then(|v| {
                v.parse()
                    .map(|p| port = p)
                    .map_err(|e| format!("--port: {e}"))
            }),
            "--serial" => value("--serial").map(|v| cfg.serial = v),
            "--model" => value("--model").map(|v| cfg.model = v),
            "--soc" => value("--soc").map(|v| cfg.soc = v),
            "--abi" => value("--abi").map(|v| cfg.abi = v),
            "--disk-full" => {
                cfg.disk_full = true;
                Ok(())
            }
            "--gles" => value("--gles").map(|v| cfg.gles = Some(v)),
            "--thermal-zone" => value("--thermal-zone").and_then(|v| {
                let (kind, milli) = v.split_once('=').ok_or_else(|| {
                    format!("--thermal-zone: expected TYPE=MILLIDEGREES, not '{v}'")
                })?;
                let milli = milli
                    .parse()
                    .map_err(|e| format!("--thermal-zone {v}: {e}"))?;
                cfg.thermal_zones.push((kind.to_string(), milli));
                Ok(())
            }),
            "--cpu-freq" => value("--cpu-freq").and_then(|v| {
                let (policy, khz) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--cpu-freq: expected POLICY=KHZ, not '{v}'"))?;
                let khz = khz.parse().map_err(|e| format!("--cpu-freq {v}: {e}"))?;
                cfg.cpu_khz.push((policy.to_string(), khz));
                Ok(())
            }),
            "--gpu-clock" => value("--gpu-clock").and_then(|v| {
                v.parse()
                    .map(|h| cfg.gpu_hz = Some(h))
                    .map_err(|e| format!("--gpu-clock: {e}"))
            }),
            "--battery-temp" => value("--battery-temp").and_then(|v| {
                v.parse()
                    .map(|t| cfg.battery_tenths = Some(t))
                    .map_err(|e| format!("--battery-temp: {e}"))
            }),
            "--thermal-script" => value("--thermal-script").and_then(|v| {
                Script::read(std::path::Path::new(&v))
                    .map(|_| cfg.thermal_script = Some(PathBuf::from(&v)))
                    .map_err(|e| format!("--thermal-script {e}"))
            }),
            "--no-vulkan" => {
                cfg.vulkan = false;
                Ok(())
            }
            other => Err(format!("unknown argument '{other}'")),
        };
        if let Err(e) = r {
            eprintln!("moga-adbd-fixture: {e}");
            return ExitCode::from(2);
        }
    }
    if cfg.root.as_os_str().is_empty() {
        eprintln!("moga-adbd-fixture: --root DIR is required");
        return ExitCode::from(2);
    }
    if let Err(e) = cfg.prepare().and_then(|()| cfg.start_thermal()) {
        eprintln!("moga-adbd-fixture: preparing {}: {e}", cfg.root.display());
        return ExitCode::FAILURE;
    }
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("moga-adbd-fixture: binding 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("listening {addr}");
    let _ = std::io::stdout().flush();
    match serve(listener, Arc::new(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moga-adbd-fixture: {e}");
            ExitCode::FAILURE
        }
    }
}
