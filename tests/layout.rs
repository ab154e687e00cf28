//! The code stays readable: no function of the library crates (lookup-tables, search,
//! supernet, the moga crate's src) or of these tests runs over 150 lines unless the
//! comment above it says why.

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 150;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A line without its string and char literals and its `//` comment (enough to count
/// braces in rustfmt-formatted code).
fn code(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '/' if chars.peek() == Some(&'/') => break,
            '\'' => {
                // A char literal ('{', '\n'), not a lifetime ('a).
                let rest: String = chars.clone().take(3).collect();
                let mut r = rest.chars();
                match (r.next(), r.next(), r.next()) {
                    (Some('\\'), _, Some('\'')) => {
                        chars.nth(2);
                    }
                    (Some(_), Some('\''), _) => {
                        chars.nth(1);
                    }
                    _ => out.push(c),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// (name, first line, length) of every function longer than [`MAX_LINES`] whose
/// preceding lines do not say why.
fn long_functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let t = t.strip_prefix("pub ").unwrap_or(t);
        let t = t.strip_prefix("pub(crate) ").unwrap_or(t);
        let Some(rest) = t.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut started, mut end) = (0i64, false, None);
        for (j, l) in lines.iter().enumerate().skip(i) {
            let c = code(l);
            if !started && c.contains(';') && !c.contains('{') {
                break;
            }
            for ch in c.chars() {
                match ch {
                    '{' => {
                        depth += 1;
                        started = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if started && depth == 0 {
                end = Some(j);
                break;
            }
        }
        let Some(end) = end else { continue };
        let len = end - i + 1;
        let above = lines[i.saturating_sub(8)..i].join("\n").to_lowercase();
        if len > MAX_LINES && !above.contains("why") {
            found.push((name, i + 1, len));
        }
    }
    found
}

#[test]
fn no_long_function_goes_unexplained() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for d in ["lookup-tables", "search", "supernet", "src", "tests"] {
        rust_files(&root.join(d), &mut files);
    }
    files.sort();
    assert!(files.len() > 50, "{}", files.len());
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (name, line, len) in long_functions(&text) {
            long.push(format!(
                "{}:{line}: fn {name} is {len} lines",
                f.strip_prefix(&root).unwrap().display()
            ));
        }
    }
    assert!(
        long.is_empty(),
        "split these, or say above each why it is one function:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_counter_sees_long_functions() {
    let body = "    let x = '{';\n".repeat(MAX_LINES);
    let f = format!("/// A function.\nfn long() {{\n{body}}}\n");
    assert_eq!(long_functions(&f), [("long".to_string(), 2, MAX_LINES + 2)]);
    let why = format!("// Why: it is a table.\n{f}");
    assert!(long_functions(&why).is_empty());
    assert!(long_functions("fn short<'a>(x: &'a str) -> &'a str {\n    x\n}\n").is_empty());
}
