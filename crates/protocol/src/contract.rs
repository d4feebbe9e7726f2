//! The function contract's output side, shared by every runtime: what a handler prints on stdout
//! becomes the invocation's JSON output, within fixed bounds.

use serde_json::value::RawValue;

/// Most bytes of stdout a result may take: a Resp must fit in one 8 MiB frame with room to spare.
pub const MAX_OUTPUT: usize = 6 * 1024 * 1024;
/// Most bytes of logs (stdout besides the result, stderr) returned with a Resp.
pub const MAX_LOG: usize = 64 * 1024;

/// The result and the log lines printed before it.
#[derive(Debug)]
pub struct Parsed {
    pub output: Box<RawValue>,
    pub logs: String,
}

/// Finds the JSON result in a handler's stdout: the whole of it, or else its last non-empty line
/// (handlers often print progress before the result).
pub fn parse_stdout(stdout: &str) -> Result<Parsed, String> {
    let trimmed = stdout.trim();
    if trimmed.is_empty() {
        return Err("handler printed nothing on stdout (expected a JSON result)".to_string());
    }
    if let Ok(output) = RawValue::from_string(trimmed.to_string()) {
        return Ok(Parsed {
            output,
            logs: String::new(),
        });
    }
    let (before, last) = trimmed.rsplit_once('\n').unwrap_or(("", trimmed));
    match RawValue::from_string(last.trim().to_string()) {
        Ok(output) => Ok(Parsed {
            output,
            logs: tail(before, MAX_LOG),
        }),
        Err(_) => Err(format!(
            "handler output is not valid JSON: {}",
            preview(trimmed, 200)
        )),
    }
}

/// The last `max` bytes of `s`, cut on a character boundary.
pub fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

/// The first `max` bytes of `s` for an error message, marked when cut.
pub fn preview(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_stdout_or_last_line() {
        assert_eq!(
            parse_stdout(" {\"a\": 1}\n").expect("json").output.get(),
            "{\"a\": 1}"
        );
        let p = parse_stdout("loading\nstep 2\n[1,2]\n").expect("json");
        assert_eq!(
            (p.output.get(), p.logs.as_str()),
            ("[1,2]", "loading\nstep 2")
        );
        let pretty = parse_stdout("{\n  \"a\": 1\n}\n").expect("multi-line JSON");
        assert!(pretty.output.get().contains("\"a\""));
    }

    #[test]
    fn non_json_and_empty_are_errors() {
        assert!(
            parse_stdout("hello world")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(parse_stdout("  \n").unwrap_err().contains("nothing"));
    }

    #[test]
    fn cuts_respect_utf8() {
        assert_eq!(tail("aé", 1), "");
        assert_eq!(preview("éé", 3), "é…");
    }
}
