//! moga's log on stderr: tracing's formatter, warnings and errors by default (`RUST_LOG`
//! overrides), with the `log` records of libraries (wgpu's) routed into it.
//!
//! The Vulkan loader reports each driver manifest it cannot use (another architecture's
//! driver, a library that is not there) as an error-severity message before it goes on to
//! the drivers that work, and wgpu relays every such message as an ERROR record. They are
//! notes about the machine, not failures of the command, so they are demoted to debug
//! level here (`RUST_LOG=wgpu_hal=debug` shows them). A real adapter failure still ends
//! the command with its own one-line `moga:` error.

use std::cell::Cell;

use tracing_subscriber::EnvFilter;

/// Warnings and errors by default. Mesa's EGL reports a failed hardware-driver probe as
/// an error before it falls back to its software driver, which wgpu relays; that module
/// only relays EGL's own messages, so it is silenced unless RUST_LOG asks for it.
const DEFAULT_LOG: &str = "warn,wgpu_hal::gles::egl=off";

/// Where wgpu relays the messages of Vulkan's debug-utils messenger.
const VULKAN_MESSAGES: &str = "wgpu_hal::vulkan::instance";

/// Installs the log of this process (once; a second call changes nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_LOG.into());
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .finish();
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        let max = tracing_log::AsLog::as_log(&tracing::level_filters::LevelFilter::current());
        if log::set_boxed_logger(Box::new(DemoteLoader(tracing_log::LogTracer::new()))).is_ok() {
            log::set_max_level(max);
        }
    }
}

/// A `log` sink that passes every record on, with the Vulkan loader's messages (and the
/// detail lines wgpu logs after each of them) at debug level.
struct DemoteLoader<L>(L);

thread_local! {
    /// Whether the last message wgpu relayed on this thread was the loader's: wgpu logs
    /// one message as several records (the text, then its objects, queues and command
    /// buffers), one after another on the thread that raised it.
    static IN_LOADER_MESSAGE: Cell<bool> = const { Cell::new(false) };
}

/// Whether wgpu's record `text` is the Vulkan loader's own message; for the detail lines
/// that follow a message (they start with a tab), whether that message was.
fn is_loader_message(text: &str) -> bool {
    if text.starts_with('\t') {
        return IN_LOADER_MESSAGE.get();
    }
    // wgpu writes "{type:?} [{message id name} (0x{id:x})]\n\t{message}"; the loader names
    // its messages "Loader Message".
    let loader = text.contains("[Loader Message (0x");
    IN_LOADER_MESSAGE.set(loader);
    loader
}

impl<L: log::Log> log::Log for DemoteLoader<L> {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target() == VULKAN_MESSAGES
            && record.level() < log::Level::Debug
            && is_loader_message(&record.args().to_string())
        {
            let demoted = log::Record::builder()
                .args(*record.args())
                .level(log::Level::Debug)
                .target(record.target())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build();
            self.0.log(&demoted);
        } else {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Keeps (level, text) of every record it is given.
    #[derive(Default)]
    struct Kept(Mutex<Vec<(log::Level, String)>>);

    impl log::Log for &Kept {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            let text = record.args().to_string();
            self.0.lock().unwrap().push((record.level(), text));
        }
        fn flush(&self) {}
    }

    fn send(sink: &DemoteLoader<&Kept>, target: &str, level: log::Level, text: &str) {
        log::Log::log(
            sink,
            &log::Record::builder()
                .args(format_args!("{text}"))
                .level(level)
                .target(target)
                .build(),
        );
    }

    #[test]
    fn the_loaders_messages_and_their_details_drop_to_debug_and_nothing_else_moves() {
        let kept = Kept::default();
        let sink = DemoteLoader(&kept);
        let error = log::Level::Error;
        // What wgpu relays for a manifest whose library does not load (as seen on a host
        // with the arm64 drivers installed), then a validation error with its objects.
        send(
            &sink,
            VULKAN_MESSAGES,
            error,
            "GENERAL [Loader Message (0x0)]\n\t/usr/lib/aarch64-linux-gnu/libvulkan_lvp.so: cannot open shared object file",
        );
        send(
            &sink,
            VULKAN_MESSAGES,
            error,
            "\tobjects: (type: INSTANCE, hndl: 0x1, name: ?)",
        );
        send(
            &sink,
            VULKAN_MESSAGES,
            error,
            "VALIDATION [VUID-vkCmdDispatch-None-08600 (0x1234)]\n\tdescriptor set 0 is not bound",
        );
        send(
            &sink,
            VULKAN_MESSAGES,
            error,
            "\tobjects: (type: COMMAND_BUFFER, hndl: 0x2, name: ?)",
        );
        // The same words from another module are not the loader's.
        send(
            &sink,
            "wgpu_core::device",
            log::Level::Warn,
            "GENERAL [Loader Message (0x0)]",
        );
        let levels: Vec<log::Level> = kept.0.lock().unwrap().iter().map(|(l, _)| *l).collect();
        assert_eq!(
            levels,
            [
                log::Level::Debug,
                log::Level::Debug,
                error,
                error,
                log::Level::Warn
            ]
        );
        assert!(kept.0.lock().unwrap()[0].1.contains("libvulkan_lvp.so"));
    }
}
