//! Reading and writing the table file. Reading is strict by design: a table is the
//! record of hours of measurement on a device, and a number silently skipped or
//! misread is worse than an error that names the file, line and field.

use std::path::Path;

use csv::StringRecord;

use super::{LatencyStats, Lut, LutMeta, LutRow, Outcome};
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::space::Activation;
use crate::unit::{KeyField, UnitKey, UnitKind};

/// The file format version this code writes. Version 2 added the key columns `groups`,
/// `repeats` and `skip` (super-resolution cells); version 1 tables are still read.
pub const FORMAT_VERSION: u32 = 2;

const MAGIC: &str = "# moga-lut";
const META: &str = "# meta: ";
const END: &str = "# end: ";

/// Tables larger than this are refused before reading (a full table is a few hundred
/// kilobytes; this bounds memory on a wrong or hostile path).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// The columns, in order.
pub const COLUMNS: [&str; 23] = [
    "kind",
    "input_hw",
    "cin",
    "cout",
    "kernel",
    "stride",
    "expansion",
    "se",
    "act",
    "groups",
    "repeats",
    "skip",
    "status",
    "median_ms",
    "p10_ms",
    "p90_ms",
    "mean_ms",
    "std_ms",
    "runs",
    "gpu_median_ms",
    "serial",
    "measured_unix_s",
    "error",
];

/// The columns of a version of the format: version 1 lacks `groups`, `repeats`, `skip`.
fn columns_of(version: u32) -> Vec<&'static str> {
    const ADDED_IN_2: [&str; 3] = ["groups", "repeats", "skip"];
    COLUMNS
        .into_iter()
        .filter(|c| version >= 2 || !ADDED_IN_2.contains(c))
        .collect()
}

/// Written in place of a key field the unit's kind does not use.
const UNUSED: &str = "-";

impl Lut {
    /// Reads a table, strictly: see the module documentation.
    pub fn read(path: &Path) -> Result<Lut> {
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(file_err(
                path,
                format!("{size} bytes is larger than any table ({MAX_FILE_BYTES} at most)"),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Lut::parse(path, &bytes)
    }

    /// Parses table bytes; `path` names the source in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Lut> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            line_err(path, line, "is not UTF-8 text".into())
        })?;
        if text.is_empty() {
            return Err(file_err(path, "is empty (not a moga LUT)".into()));
        }
        let mut lines = text.split_inclusive('\n');
        let first = lines.next().unwrap_or_default().trim_end();
        let version = first.strip_prefix(MAGIC).map(str::trim).ok_or_else(|| {
            line_err(
                path,
                1,
                format!(
                    "expected '{MAGIC} {FORMAT_VERSION}' (is this a moga LUT?), found '{}'",
                    shorten(first)
                ),
            )
        })?;
        let version = match version.parse::<u32>() {
            Ok(v @ (1 | FORMAT_VERSION)) => v,
            Ok(v) if v > FORMAT_VERSION => {
                return Err(line_err(
                    path,
                    1,
                    format!(
                        "format version {v} is newer than this moga reads ({FORMAT_VERSION}); upgrade moga"
                    ),
                ));
            }
            _ => {
                return Err(field_err(
                    path,
                    1,
                    "format",
                    format!(
                        "'{version}' is not a format version this moga reads (1 to {FORMAT_VERSION})"
                    ),
                ));
            }
        };
        let columns = &columns_of(version);
        let second = lines.next().unwrap_or_default().trim_end();
        let json = second.strip_prefix(META).ok_or_else(|| {
            line_err(
                path,
                2,
                format!(
                    "expected the '{}' line, found '{}'",
                    META.trim_end(),
                    shorten(second)
                ),
            )
        })?;
        let meta: LutMeta =
            serde_json::from_str(json).map_err(|e| field_err(path, 2, "meta", e.to_string()))?;
        let header_len = first.len() + second.len() + 2;
        let body_and_end = text.get(header_len..).unwrap_or_default();

        // The last non-empty line must be the end marker; anything else means the
        // file was cut short (or is being written by something that is not moga).
        let trimmed = body_and_end.trim_end_matches(['\n', '\r']);
        let (body, last) = match trimmed.rfind('\n') {
            Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
            None => ("", trimmed),
        };
        let last_line = 2 + body.matches('\n').count() as u64 + 1;
        let declared = last
            .strip_prefix(END)
            .and_then(|r| r.strip_suffix(" rows").or_else(|| r.strip_suffix(" row")))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .ok_or_else(|| line_err(path, last_line, format!("the table is truncated: the last line should be '{END}<n> rows', found '{}'", shorten(last))))?;

        let mut lut = Lut::new(meta);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(body.as_bytes());
        let mut record = StringRecord::new();
        let mut header_seen = false;
        let mut lines_of = std::collections::HashMap::new();
        loop {
            let line = 2 + reader.position().line();
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(line_err(path, line, format!("unreadable CSV: {e}"))),
            }
            if !header_seen {
                check_header(path, line, &record, columns)?;
                header_seen = true;
                continue;
            }
            if record.len() != columns.len() {
                return Err(line_err(
                    path,
                    line,
                    format!("has {} fields, expected {}", record.len(), columns.len()),
                ));
            }
            let row = parse_row(path, line, &record, columns)?;
            if let Some(first) = lines_of.insert(row.key, line) {
                return Err(line_err(
                    path,
                    line,
                    format!("repeats the unit of line {first}: {}", row.key),
                ));
            }
            lut.insert(row)
                .map_err(|e| line_err(path, line, e.to_string()))?;
        }
        if !header_seen {
            return Err(line_err(
                path,
                3,
                format!("expected the column header '{}'", columns.join(",")),
            ));
        }
        if declared != lut.rows().len() {
            return Err(line_err(
                path,
                last_line,
                format!(
                    "the end line declares {declared} rows but the table has {} (rows were lost or added by hand)",
                    lut.rows().len()
                ),
            ));
        }
        Ok(lut)
    }

    /// The file's text.
    pub fn to_file_string(&self) -> String {
        let meta = serde_json::to_string(&self.meta).expect("metadata always serialises");
        let mut out = format!("{MAGIC} {FORMAT_VERSION}\n{META}{meta}\n");
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        w.write_record(COLUMNS).expect("writing to memory");
        for row in self.rows() {
            w.write_record(row_fields(row)).expect("writing to memory");
        }
        let body = w.into_inner().expect("writing to memory");
        out.push_str(std::str::from_utf8(&body).expect("fields are UTF-8"));
        let n = self.rows().len();
        out.push_str(&format!(
            "{END}{n} {}\n",
            if n == 1 { "row" } else { "rows" }
        ));
        out
    }

    /// Writes the table atomically (a reader never sees half a table).
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, self.to_file_string().as_bytes())
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

fn file_err(path: &Path, message: String) -> Error {
    Error::LutFile {
        path: path.to_path_buf(),
        message,
    }
}

fn line_err(path: &Path, line: u64, message: String) -> Error {
    Error::LutLine {
        path: path.to_path_buf(),
        line,
        message,
    }
}

fn field_err(path: &Path, line: u64, field: &str, message: String) -> Error {
    Error::LutField {
        path: path.to_path_buf(),
        line,
        field: field.to_string(),
        message,
    }
}

fn check_header(path: &Path, line: u64, record: &StringRecord, columns: &[&str]) -> Result<()> {
    for (i, want) in columns.iter().enumerate() {
        match record.get(i) {
            Some(got) if got == *want => {}
            Some(got) => {
                return Err(line_err(
                    path,
                    line,
                    format!("column {} is '{}', expected '{want}'", i + 1, shorten(got)),
                ));
            }
            None => {
                return Err(line_err(
                    path,
                    line,
                    format!(
                        "the header lacks column '{want}' (expected {} columns)",
                        columns.len()
                    ),
                ));
            }
        }
    }
    if record.len() > columns.len() {
        return Err(line_err(
            path,
            line,
            format!(
                "the header has {} columns, expected {}",
                record.len(),
                columns.len()
            ),
        ));
    }
    Ok(())
}

fn row_fields(row: &LutRow) -> Vec<String> {
    let k = &row.key;
    let key_field = |f: KeyField, v: String| {
        if k.kind.uses(f) {
            v
        } else {
            UNUSED.to_string()
        }
    };
    let mut out = vec![
        k.kind.name().to_string(),
        k.input_hw.to_string(),
        k.cin.to_string(),
        k.cout.to_string(),
        key_field(KeyField::Kernel, k.kernel.to_string()),
        key_field(KeyField::Stride, k.stride.to_string()),
        key_field(KeyField::Expansion, k.expansion.to_string()),
        key_field(
            KeyField::Se,
            k.se.map_or("none", Activation::name).to_string(),
        ),
        key_field(KeyField::Act, k.act.name().to_string()),
        key_field(KeyField::Groups, k.groups.to_string()),
        key_field(KeyField::Repeats, k.repeats.to_string()),
        key_field(
            KeyField::Skip,
            if k.skip { "skip" } else { "noskip" }.to_string(),
        ),
    ];
    match &row.outcome {
        Outcome::Ok(s) => {
            out.push("ok".into());
            out.extend(
                [s.median_ms, s.p10_ms, s.p90_ms, s.mean_ms, s.std_ms].map(|v| v.to_string()),
            );
            out.push(s.runs.to_string());
            out.push(s.gpu_median_ms.map(|v| v.to_string()).unwrap_or_default());
        }
        Outcome::Failed { .. } => {
            out.push("failed".into());
            out.extend(std::iter::repeat_n(String::new(), 7));
        }
    }
    out.push(row.serial.clone());
    out.push(row.measured_unix_s.to_string());
    out.push(match &row.outcome {
        Outcome::Failed { error } => error.clone(),
        Outcome::Ok(_) => String::new(),
    });
    out
}

fn parse_row(path: &Path, line: u64, r: &StringRecord, columns: &[&str]) -> Result<LutRow> {
    // The key columns, then (from `s`) the status and the statistics.
    let key_fields = columns.len() - 12;
    let s = 1 + key_fields;
    let get = |i: usize| r.get(i).unwrap_or_default();
    let ferr = |col: usize, message: String| field_err(path, line, columns[col], message);
    let kind: UnitKind = get(0).parse().map_err(|m| ferr(0, m))?;

    let mut key = UnitKey::new(kind, 0, 0, 0);
    for (i, field) in KeyField::ALL.into_iter().enumerate() {
        let col = i + 1;
        if i >= key_fields {
            if kind.uses(field) {
                return Err(ferr(
                    0,
                    format!(
                        "kind {kind} needs column '{}', which this format version lacks",
                        field.name()
                    ),
                ));
            }
            continue;
        }
        let raw = get(col);
        if !kind.uses(field) {
            if raw != UNUSED {
                return Err(ferr(
                    col,
                    format!(
                        "must be '{UNUSED}' for kind {kind}, found '{}'",
                        shorten(raw)
                    ),
                ));
            }
            continue;
        }
        match field {
            KeyField::Se => {
                key.se = match raw {
                    "none" => None,
                    other => Some(other.parse::<Activation>().map_err(|m| ferr(col, m))?),
                }
            }
            KeyField::Act => key.act = raw.parse().map_err(|m| ferr(col, m))?,
            KeyField::Skip => {
                key.skip = match raw {
                    "skip" => true,
                    "noskip" => false,
                    other => {
                        return Err(ferr(
                            col,
                            format!("'{}' is not skip or noskip", shorten(other)),
                        ));
                    }
                }
            }
            _ => {
                let v = parse_u32(raw).map_err(|m| ferr(col, m))?;
                match field {
                    KeyField::InputHw => key.input_hw = v,
                    KeyField::Cin => key.cin = v,
                    KeyField::Cout => key.cout = v,
                    KeyField::Kernel => key.kernel = v,
                    KeyField::Stride => key.stride = v,
                    KeyField::Expansion => key.expansion = v,
                    KeyField::Groups => key.groups = v,
                    KeyField::Repeats => key.repeats = v,
                    KeyField::Se | KeyField::Act | KeyField::Skip => {
                        unreachable!("handled above")
                    }
                }
            }
        }
    }
    key.check()
        .map_err(|(f, m)| field_err(path, line, f.name(), m))?;

    let stat = |col: usize| -> Result<f64> {
        let raw = get(col);
        raw.parse::<f64>()
            .map_err(|_| ferr(col, format!("'{}' is not a number", shorten(raw))))
    };
    let outcome = match get(s) {
        "ok" => {
            let gpu = match get(s + 7) {
                "" => None,
                _ => Some(stat(s + 7)?),
            };
            let stats = LatencyStats {
                median_ms: stat(s + 1)?,
                p10_ms: stat(s + 2)?,
                p90_ms: stat(s + 3)?,
                mean_ms: stat(s + 4)?,
                std_ms: stat(s + 5)?,
                runs: parse_u32(get(s + 6)).map_err(|m| ferr(s + 6, m))?,
                gpu_median_ms: gpu,
            };
            stats
                .check()
                .map_err(|(f, m)| field_err(path, line, f, m))?;
            if !get(s + 10).is_empty() {
                return Err(ferr(
                    s + 10,
                    "a measured row carries no error message".into(),
                ));
            }
            Outcome::Ok(stats)
        }
        "failed" => {
            if let Some(col) = (s + 1..=s + 7).find(|&c| !get(c).is_empty()) {
                return Err(ferr(col, "a failed row carries no statistics".into()));
            }
            let error = get(s + 10).to_string();
            if error.trim().is_empty() {
                return Err(ferr(s + 10, "a failed row must say why it failed".into()));
            }
            Outcome::Failed { error }
        }
        other => {
            return Err(ferr(
                s,
                format!("'{}' is not a status (ok or failed)", shorten(other)),
            ));
        }
    };
    let measured_unix_s = get(s + 9).parse::<u64>().map_err(|_| {
        ferr(
            s + 9,
            format!(
                "'{}' is not a time in seconds since 1970",
                shorten(get(s + 9))
            ),
        )
    })?;
    Ok(LutRow {
        key,
        outcome,
        serial: get(s + 8).to_string(),
        measured_unix_s,
    })
}

fn parse_u32(raw: &str) -> std::result::Result<u32, String> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{}' is not a whole number", shorten(raw)));
    }
    raw.parse()
        .map_err(|_| format!("{} is too large", shorten(raw)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lut::tests::synthetic;
    use crate::space::SpaceId;
    use proptest::prelude::*;

    fn p() -> &'static Path {
        Path::new("t.csv")
    }

    /// The table's text with line `n` (1-based) replaced by `f(line)`.
    fn edit_line(text: &str, n: usize, f: impl Fn(&str) -> String) -> String {
        text.lines()
            .enumerate()
            .map(|(i, l)| if i + 1 == n { f(l) } else { l.to_string() })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }

    /// The table's text with field `col` (0-based) of line `n` set to `value`.
    fn edit_field(text: &str, n: usize, col: usize, value: &str) -> String {
        edit_line(text, n, |l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f[col] = value;
            f.join(",")
        })
    }

    fn err_of(text: &str) -> String {
        match Lut::parse(p(), text.as_bytes()) {
            Ok(_) => panic!("parsed without error:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn round_trips_a_whole_table() {
        let lut = synthetic(SpaceId::Moga);
        let text = lut.to_file_string();
        assert_eq!(Lut::parse(p(), text.as_bytes()).unwrap(), lut);
        assert!(
            text.ends_with("# end: 125 rows\n"),
            "{}",
            &text[text.len() - 40..]
        );
    }

    #[test]
    fn corrupted_fields_name_line_and_field() {
        let text = synthetic(SpaceId::Fairnas).to_file_string();
        // line 4 is the first row (magic, meta, header before it)
        let cases: Vec<(String, &str)> = vec![
            (
                edit_line(&text, 4, |l| l.replacen("stem", "stam", 1)),
                "line 4, field 'kind': unknown unit kind 'stam'",
            ),
            (
                edit_line(&text, 5, |l| l.replacen(",16,", ",x6,", 1)),
                "line 5, field 'cout'",
            ),
            (
                edit_field(&text, 6, 13, "-1"),
                "line 6, field 'median_ms': -1 is negative",
            ),
            (
                edit_field(&text, 6, 13, "NaN"),
                "line 6, field 'median_ms': NaN is not a finite number",
            ),
            (
                edit_field(&text, 6, 14, "inf"),
                "line 6, field 'p10_ms': inf is not a finite number",
            ),
            (
                edit_field(&text, 6, 18, "0"),
                "line 6, field 'runs': a measurement needs at least one run",
            ),
            (
                edit_field(&text, 6, 21, "yesterday"),
                "line 6, field 'measured_unix_s'",
            ),
            (
                edit_line(&text, 7, |l| l.replacen(",ok,", ",meh,", 1)),
                "line 7, field 'status'",
            ),
            (
                edit_line(&text, 8, |l| format!("{l},extra")),
                "line 8: has 24 fields, expected 23",
            ),
            (
                edit_line(&text, 3, |l| l.replacen("cin", "c_in", 1)),
                "line 3: column 3 is 'c_in'",
            ),
            (
                edit_line(&text, 2, |_| "# meta: {\"devize\":{}}".into()),
                "line 2, field 'meta': unknown field `devize`",
            ),
            (
                edit_line(&text, 1, |_| "# moga-lut 9".into()),
                "line 1: format version 9 is newer",
            ),
            (
                edit_field(&text, 9, 4, "4"),
                "line 9, field 'kernel': kernel 4 is even",
            ),
        ];
        for (bad, want) in cases {
            let got = err_of(&bad);
            assert!(
                got.starts_with("t.csv: ") && got.contains(want),
                "want '{want}', got '{got}'"
            );
        }
    }

    #[test]
    fn version_1_tables_are_read_and_sr_keys_round_trip() {
        // A version 1 table (no groups, repeats, skip columns) reads as before.
        let lut = synthetic(SpaceId::Fairnas);
        let v2 = lut.to_file_string();
        let v1: String = v2
            .lines()
            .enumerate()
            .map(|(i, l)| match i {
                0 => "# moga-lut 1".to_string(),
                1 => l.to_string(),
                _ if l.starts_with("# end") => l.to_string(),
                _ => {
                    let mut f: Vec<&str> = l.split(',').collect();
                    f.drain(9..12);
                    f.join(",")
                }
            })
            .map(|l| l + "\n")
            .collect();
        assert_eq!(Lut::parse(p(), v1.as_bytes()).unwrap(), lut);
        // Super-resolution keys use the new columns and round-trip.
        let mut sr = Lut::new(lut.meta.clone());
        let keys = crate::SrSpaceId::Moremnas.unit_list(12);
        for (i, k) in keys.iter().take(40).enumerate() {
            sr.insert(LutRow {
                key: *k,
                ..lut.rows()[i % lut.rows().len()].clone()
            })
            .unwrap();
        }
        let text = sr.to_file_string();
        assert!(
            text.contains("\nsrcell,12,32,16,1,-,1,-,-,1,1,noskip,ok,"),
            "{text}"
        );
        assert_eq!(Lut::parse(p(), text.as_bytes()).unwrap(), sr);
        let bad = text.replacen(",1,2,skip,ok,", ",1,2,maybe,ok,", 1);
        assert!(err_of(&bad).contains("field 'skip': 'maybe' is not skip or noskip"));
        let bad = text.replacen(",1,2,skip,ok,", ",3,2,skip,ok,", 1);
        assert!(err_of(&bad).contains("field 'groups': expansion 1 with groups 3"));
        // A version 1 table cannot hold them.
        let v1_sr = text.replacen("# moga-lut 2", "# moga-lut 1", 1);
        assert!(err_of(&v1_sr).contains("line 3: column 10 is 'groups'"));
    }

    #[test]
    fn duplicates_name_both_lines() {
        let text = synthetic(SpaceId::Fairnas).to_file_string();
        let lines: Vec<&str> = text.lines().collect();
        let mut v = lines.clone();
        v.insert(10, lines[5]);
        let n = v.len();
        v[n - 1] = "# end: 71 rows";
        let got = err_of(&(v.join("\n") + "\n"));
        assert!(got.contains("line 11: repeats the unit of line 6"), "{got}");
    }

    #[test]
    fn truncation_is_detected_wherever_the_cut_falls() {
        let text = synthetic(SpaceId::Moga).to_file_string();
        for cut in [text.len() - 1 - 5, text.len() / 2, 200, 40, 13, 1] {
            let got = err_of(&text[..cut]);
            assert!(got.contains("t.csv"), "cut at {cut}: {got}");
        }
        let lines: Vec<&str> = text.lines().collect();
        let dropped = [&lines[..10], &lines[11..]].concat().join("\n");
        let got = err_of(&dropped);
        assert!(
            got.contains("declares 125 rows but the table has 124"),
            "{got}"
        );
        assert!(err_of("").contains("is empty"));
        assert!(
            Lut::parse(p(), b"\xff\xfe")
                .unwrap_err()
                .to_string()
                .contains("line 1: is not UTF-8")
        );
    }

    #[test]
    fn failed_rows_round_trip_and_are_checked() {
        let mut lut = synthetic(SpaceId::Fairnas);
        let key = lut.rows()[2].key;
        lut.upsert(LutRow {
            key,
            outcome: Outcome::Failed {
                error: "runner crashed: \"signal 11\", exit 139".into(),
            },
            serial: "a b,c".into(),
            measured_unix_s: 5,
        });
        let text = lut.to_file_string();
        assert_eq!(Lut::parse(p(), text.as_bytes()).unwrap(), lut);
        let bad = edit_line(&text, 6, |l| l.replacen("failed,,", "failed,1.0,", 1));
        assert!(
            err_of(&bad).contains("line 6, field 'median_ms': a failed row carries no statistics")
        );
    }

    #[test]
    fn unused_key_fields_must_be_dashes() {
        let text = synthetic(SpaceId::Fairnas).to_file_string();
        let last_row = text.lines().count() - 1; // the classifier fc
        let bad = edit_line(&text, last_row, |l| l.replacen(",-,", ",3,", 1));
        assert!(
            err_of(&bad).contains("field 'kernel': must be '-' for kind fc"),
            "{}",
            err_of(&bad)
        );
    }

    proptest! {
        #[test]
        fn write_then_read_is_identity(
            medians in prop::collection::vec(0.0f64..1e4, 1..40),
            spread in 0.0f64..1.0,
            gpu in any::<bool>(),
            serial in "[ -~]{0,12}",
            err in "\\PC{1,40}",
        ) {
            let units = crate::space::Space::new(SpaceId::Scarlet).unit_list();
            let mut lut = synthetic(SpaceId::Fairnas);
            lut.meta.device.serials = vec![serial.clone()];
            for (i, m) in medians.iter().enumerate() {
                let outcome = if i % 7 == 3 {
                    Outcome::Failed { error: err.clone() }
                } else {
                    Outcome::Ok(LatencyStats {
                        median_ms: *m,
                        p10_ms: m * (1.0 - spread),
                        p90_ms: m * (1.0 + spread),
                        mean_ms: *m,
                        std_ms: m * spread,
                        runs: 1 + i as u32,
                        gpu_median_ms: gpu.then_some(m / 3.0),
                    })
                };
                lut.upsert(LutRow { key: units[i], outcome, serial: serial.clone(), measured_unix_s: i as u64 });
            }
            let text = lut.to_file_string();
            let back = Lut::parse(p(), text.as_bytes()).unwrap();
            prop_assert_eq!(back, lut);
        }

        #[test]
        fn reading_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = Lut::parse(p(), &bytes);
        }

        #[test]
        fn reading_a_mangled_table_never_panics(cut in 0usize..4000, pos in 0usize..4000, byte in any::<u8>()) {
            let mut b = synthetic(SpaceId::Fairnas).to_file_string().into_bytes();
            if pos < b.len() { b[pos] = byte; }
            b.truncate(cut.min(b.len()));
            let _ = Lut::parse(p(), &b);
        }
    }
}
