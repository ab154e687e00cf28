//! Output helpers: aligned text tables for people, JSON lines for programs, and the
//! broken-pipe rule (`moga … | head` is not an error).

use std::io::Write;

use serde::Serialize;

/// Writes one JSON value as one line.
/// Serialised whole first: stdout is line-buffered, and serde's many small writes
/// into it each search for a newline (a search's 2,000-member front took a few ms).
pub fn json_line(out: &mut impl Write, value: &impl Serialize) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    out.write_all(&line)?;
    Ok(())
}

/// A text table: a header and rows, columns padded to their widest cell; columns whose
/// header starts with a space are right-aligned (numbers).
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let n = self.header.len();
        let mut width: Vec<usize> = self
            .header
            .iter()
            .map(|h| h.trim().chars().count())
            .collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let right: Vec<bool> = self.header.iter().map(|h| h.starts_with(' ')).collect();
        let line = |cells: Vec<&str>, out: &mut dyn Write| -> std::io::Result<()> {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate().take(n) {
                if i > 0 {
                    s.push_str("  ");
                }
                let pad = width[i].saturating_sub(c.chars().count());
                if right[i] {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    if i + 1 < n {
                        s.push_str(&" ".repeat(pad));
                    }
                }
            }
            writeln!(out, "{}", s.trim_end())
        };
        line(self.header.iter().map(|h| h.trim()).collect(), out)?;
        for r in &self.rows {
            line(r.iter().map(String::as_str).collect(), out)?;
        }
        Ok(())
    }
}

/// `12345678` → `12,345,678`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether the error is a closed stdout (`| head`), which is not a failure.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["name", " n"]);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["long".into(), "1,000".into()]);
        let mut buf = Vec::new();
        t.write(&mut buf).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "name      n\na         1\nlong  1,000\n"
        );
        assert_eq!(thousands(304_042_176), "304,042,176");
        assert_eq!(thousands(7), "7");
    }
}
