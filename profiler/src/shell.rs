//! Remote commands built safely and their exit codes recovered.
//!
//! Every argument is single-quoted (POSIX: `'` becomes `'\''`), so serials, paths and
//! file names are never read by the device's shell as code. adb_client drops the exit
//! status of `shell` in server mode, so the command line ends by printing a marker with
//! a per-call nonce and `$?`; the marker's absence means the connection broke before
//! the command finished, which is reported as such rather than guessed.

/// Quotes one argument for a POSIX shell.
pub fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', "'\\''"))
}

/// `argv` as one shell line, each word quoted.
pub fn join(argv: &[&str]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// A command line that runs `argv` in `dir` (optionally under `timeout SECONDS`) and
/// then prints `nonce` with the exit status on its own line.
pub fn with_status(
    dir: Option<&str>,
    argv: &[&str],
    timeout_s: Option<u64>,
    nonce: &str,
) -> String {
    let mut line = String::new();
    if let Some(d) = dir {
        line.push_str(&format!("cd {} && ", quote(d)));
    }
    if let Some(t) = timeout_s {
        line.push_str(&format!("timeout -s KILL {t} "));
    }
    line.push_str(&join(argv));
    format!("{line}; s=$?; echo; echo {}$s", quote(&marker(nonce)))
}

fn marker(nonce: &str) -> String {
    format!("__MOGA_STATUS_{nonce}=")
}

/// Splits a command's output into what the command printed and its exit status;
/// `None` when the marker is missing (the command did not finish).
pub fn split_status(out: &str, nonce: &str) -> (String, Option<i32>) {
    let m = marker(nonce);
    match out.rfind(&m) {
        Some(at) => {
            let code = out[at + m.len()..]
                .lines()
                .next()
                .and_then(|c| c.trim().parse().ok());
            // Drop the blank line `echo` added before the marker.
            let body = &out[..at];
            let body = body.strip_suffix('\n').unwrap_or(body);
            (body.to_string(), code)
        }
        None => (out.to_string(), None),
    }
}

/// A name part no other call makes (one implementation: the scratch folders').
pub use device_runner::scratch::nonce;

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn hostile_words_stay_words() {
        let hostile = [
            "a b",
            "it's",
            "$(touch /tmp/pwned)",
            "`id`",
            "x;rm -rf /",
            "new\nline",
            "",
            "..",
            "\\",
            "*",
        ];
        for h in hostile {
            let line = format!("printf '%s' {}", quote(h));
            let out = Command::new("sh").arg("-c").arg(&line).output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), h, "{line}");
        }
        assert_eq!(quote("/data/local/tmp/moga"), "/data/local/tmp/moga");
    }

    #[test]
    fn exit_status_survives_the_round_trip() {
        let n = nonce();
        let line = with_status(Some("/"), &["sh", "-c", "echo out; exit 7"], None, &n);
        let out = Command::new("sh").arg("-c").arg(&line).output().unwrap();
        let (body, code) = split_status(&String::from_utf8(out.stdout).unwrap(), &n);
        assert_eq!((body.as_str(), code), ("out\n", Some(7)));
        assert_eq!(
            split_status("partial output", &n),
            ("partial output".to_string(), None)
        );
    }
}
