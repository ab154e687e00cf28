//! The ADB transport protocol as a device sees it (AOSP `packages/modules/adb/protocol.txt`):
//! 24-byte little-endian headers (command, two arguments, payload length, payload sum,
//! magic = command ^ 0xffffffff) followed by the payload. Parsing is a pure function of
//! bytes so it can be fuzzed; every length is checked against the agreed maximum before
//! anything is allocated.

/// `SYNC` (obsolete).
pub const A_SYNC: u32 = 0x434e_5953;
/// `CNXN`: connect.
pub const A_CNXN: u32 = 0x4e58_4e43;
/// `AUTH`: authentication.
pub const A_AUTH: u32 = 0x4854_5541;
/// `OPEN`: open a stream to a service.
pub const A_OPEN: u32 = 0x4e45_504f;
/// `OKAY`: stream ready / write acknowledged.
pub const A_OKAY: u32 = 0x5941_4b4f;
/// `CLSE`: close a stream.
pub const A_CLSE: u32 = 0x4553_4c43;
/// `WRTE`: data on a stream.
pub const A_WRTE: u32 = 0x4554_5257;
/// `STLS`: switch to TLS.
pub const A_STLS: u32 = 0x534c_5453;

/// Protocol version with checksums skipped (adb 1.0.34 and later).
pub const A_VERSION: u32 = 0x0100_0001;
/// Largest payload this device accepts and sends.
pub const MAX_PAYLOAD: u32 = 256 * 1024;

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Command word.
    pub command: u32,
    /// First argument.
    pub arg0: u32,
    /// Second argument.
    pub arg1: u32,
    /// Payload.
    pub data: Vec<u8>,
}

/// What is wrong with bytes on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// The magic word is not the command's complement.
    BadMagic {
        /// The command word.
        command: u32,
        /// The magic word.
        magic: u32,
    },
    /// Not a command this protocol defines.
    UnknownCommand(u32),
    /// A payload longer than agreed.
    TooLong {
        /// Its length.
        len: u32,
        /// The limit.
        max: u32,
    },
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::BadMagic { command, magic } => {
                write!(f, "bad magic {magic:#x} for command {command:#x}")
            }
            ProtocolError::UnknownCommand(c) => write!(f, "unknown command {c:#x}"),
            ProtocolError::TooLong { len, max } => {
                write!(f, "payload of {len} bytes is over the {max} agreed")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A parsed header: the command, its arguments and the payload length to read next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Command word.
    pub command: u32,
    /// First argument.
    pub arg0: u32,
    /// Second argument.
    pub arg1: u32,
    /// Payload bytes that follow.
    pub len: u32,
}

fn word(b: &[u8; 24], i: usize) -> u32 {
    u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
}

/// Parses a header; the payload length is checked against `max_payload`.
pub fn parse_header(b: &[u8; 24], max_payload: u32) -> Result<Header, ProtocolError> {
    let (command, arg0, arg1, len, _sum, magic) = (
        word(b, 0),
        word(b, 1),
        word(b, 2),
        word(b, 3),
        word(b, 4),
        word(b, 5),
    );
    if magic != command ^ 0xffff_ffff {
        return Err(ProtocolError::BadMagic { command, magic });
    }
    if ![
        A_SYNC, A_CNXN, A_AUTH, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_STLS,
    ]
    .contains(&command)
    {
        return Err(ProtocolError::UnknownCommand(command));
    }
    if len > max_payload {
        return Err(ProtocolError::TooLong {
            len,
            max: max_payload,
        });
    }
    Ok(Header {
        command,
        arg0,
        arg1,
        len,
    })
}

/// Encodes a message (payload sum filled in for older hosts).
pub fn encode(m: &Message) -> Vec<u8> {
    let sum: u32 = m
        .data
        .iter()
        .map(|&b| u32::from(b))
        .fold(0u32, u32::wrapping_add);
    let mut out = Vec::with_capacity(24 + m.data.len());
    for w in [
        m.command,
        m.arg0,
        m.arg1,
        m.data.len() as u32,
        sum,
        m.command ^ 0xffff_ffff,
    ] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&m.data);
    out
}

/// Parses one whole message from the front of `bytes`; returns it and the bytes used,
/// or `Ok(None)` when more bytes are needed.
pub fn parse_message(
    bytes: &[u8],
    max_payload: u32,
) -> Result<Option<(Message, usize)>, ProtocolError> {
    let Some(head) = bytes.get(..24) else {
        return Ok(None);
    };
    let h = parse_header(head.try_into().expect("24 bytes"), max_payload)?;
    let end = 24 + h.len as usize;
    let Some(data) = bytes.get(24..end) else {
        return Ok(None);
    };
    Ok(Some((
        Message {
            command: h.command,
            arg0: h.arg0,
            arg1: h.arg1,
            data: data.to_vec(),
        },
        end,
    )))
}

/// shell v2 packet ids.
pub mod shell {
    /// Data to the process's stdin.
    pub const STDIN: u8 = 0;
    /// Data from stdout.
    pub const STDOUT: u8 = 1;
    /// Data from stderr.
    pub const STDERR: u8 = 2;
    /// The exit status (one byte).
    pub const EXIT: u8 = 3;
    /// stdin closed.
    pub const CLOSE_STDIN: u8 = 4;
    /// Terminal size change.
    pub const WINDOW_SIZE: u8 = 5;

    /// A shell v2 packet: id, little-endian u32 length, data.
    pub fn packet(id: u8, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + data.len());
        out.push(id);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    /// A packet's id and data.
    pub type Packet = (u8, Vec<u8>);

    /// Splits whole packets off the front of `buf`; returns them and the bytes used.
    pub fn split(buf: &[u8], max: usize) -> Result<(Vec<Packet>, usize), String> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(head) = buf.get(at..at + 5) {
            let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
            if len > max {
                return Err(format!("shell packet of {len} bytes is over {max}"));
            }
            let Some(data) = buf.get(at + 5..at + 5 + len) else {
                break;
            };
            out.push((head[0], data.to_vec()));
            at += 5 + len;
        }
        Ok((out, at))
    }
}

/// Sync-protocol requests (`sync:` service): a 4-byte id and a little-endian u32.
pub mod sync {
    /// One request or data chunk.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Request {
        /// `STAT`, `LIST`, `SEND`, `RECV`, `DATA`, `DONE`, `QUIT`.
        pub id: [u8; 4],
        /// The length (or, for `DONE`, the mtime).
        pub arg: u32,
        /// The path or data that follows (empty for `DONE` and `QUIT`).
        pub body: Vec<u8>,
    }

    /// Longest path accepted.
    pub const MAX_PATH: u32 = 4096;
    /// Largest DATA chunk (adb's SYNC_DATA_MAX).
    pub const MAX_DATA: u32 = 64 * 1024;

    /// Splits one request off the front of `buf`, or `Ok(None)` when more bytes are
    /// needed.
    pub fn parse(buf: &[u8]) -> Result<Option<(Request, usize)>, String> {
        let Some(head) = buf.get(..8) else {
            return Ok(None);
        };
        let id: [u8; 4] = head[..4].try_into().expect("4 bytes");
        let arg = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let body_len = match &id {
            b"DONE" | b"QUIT" => 0,
            b"DATA" if arg <= MAX_DATA => arg,
            b"STAT" | b"LIST" | b"SEND" | b"RECV" if arg <= MAX_PATH => arg,
            b"DATA" | b"STAT" | b"LIST" | b"SEND" | b"RECV" => {
                return Err(format!(
                    "{} length {arg} is too long",
                    String::from_utf8_lossy(&id)
                ));
            }
            other => {
                return Err(format!(
                    "unknown sync request {:?}",
                    String::from_utf8_lossy(other)
                ));
            }
        } as usize;
        let Some(body) = buf.get(8..8 + body_len) else {
            return Ok(None);
        };
        Ok(Some((
            Request {
                id,
                arg,
                body: body.to_vec(),
            },
            8 + body_len,
        )))
    }

    /// A response: id and a u32, then `body`.
    pub fn response(id: &[u8; 4], arg: u32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + body.len());
        out.extend_from_slice(id);
        out.extend_from_slice(&arg.to_le_bytes());
        out.extend_from_slice(body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_are_checked() {
        let m = Message {
            command: A_OPEN,
            arg0: 7,
            arg1: 0,
            data: b"shell,v2,raw:ls\0".to_vec(),
        };
        let bytes = encode(&m);
        assert_eq!(
            parse_message(&bytes, MAX_PAYLOAD),
            Ok(Some((m.clone(), bytes.len())))
        );
        assert_eq!(parse_message(&bytes[..30], MAX_PAYLOAD), Ok(None));
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(matches!(
            parse_message(&bad, MAX_PAYLOAD),
            Err(ProtocolError::BadMagic { .. })
        ));
        let big = encode(&Message {
            data: vec![0; 100],
            ..m
        });
        assert_eq!(
            parse_message(&big, 50),
            Err(ProtocolError::TooLong { len: 100, max: 50 })
        );
    }

    #[test]
    fn shell_and_sync_framing() {
        let mut buf = shell::packet(shell::STDOUT, b"hi");
        buf.extend(shell::packet(shell::EXIT, &[3]));
        buf.extend(&[1, 9, 0]);
        let (packets, used) = shell::split(&buf, 1024).unwrap();
        assert_eq!(packets, vec![(1, b"hi".to_vec()), (3, vec![3])]);
        assert_eq!(used, buf.len() - 3);
        let req = sync::response(b"SEND", 9, b"/x/y,0644");
        assert_eq!(sync::parse(&req).unwrap().unwrap().0.body, b"/x/y,0644");
        assert!(sync::parse(&sync::response(b"DATA", 1 << 20, b"")).is_err());
        assert!(sync::parse(b"NOPE\0\0\0\0").is_err());
    }
}
