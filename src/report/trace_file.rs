//! Trace files: the JSON-lines record `credsim run --trace FILE` writes, read back for `credsim report`.
//!
//! The first line is a `run.meta` header (scenario, seed, simulated duration) that is not part of the
//! trace itself (nor of its digest); every other line is one [`sim::Event`] as
//! [`sim::Event::to_json_line`] wrote it. Reading errors name the file and the line.

use std::path::Path;

use sim::{Event, FieldValue};

use super::data::RunMeta;

/// The header line for a trace file.
pub fn meta_line(meta: &RunMeta) -> String {
    let v = serde_json::json!({"t_ns": 0, "host": "credsim", "kind": "run.meta", "scenario": meta.scenario, "seed": meta.seed, "duration_s": meta.duration_s});
    v.to_string()
}

/// A trace file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct TraceFileError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Reads a trace file: its header (if any; else the scenario is named after the file and the duration
/// is the last event's time) and its events.
pub fn read(path: &Path) -> Result<(RunMeta, Vec<Event>), TraceFileError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| TraceFileError { file: file.clone(), line: 0, message: e.to_string() })?;
    parse(&file, &text)
}

/// [`read`] on text already in memory; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<(RunMeta, Vec<Event>), TraceFileError> {
    let err = |line: usize, message: String| TraceFileError { file: file.to_string(), line, message };
    let mut meta = None;
    let mut events = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| err(line, format!("not JSON: {e}")))?;
        let serde_json::Value::Object(obj) = v else { return Err(err(line, "not a JSON object".into())) };
        let t_ns = obj.get("t_ns").and_then(|v| v.as_u64()).ok_or_else(|| err(line, "field `t_ns`: missing or not a whole number".into()))?;
        let kind = obj.get("kind").and_then(|v| v.as_str()).ok_or_else(|| err(line, "field `kind`: missing or not a string".into()))?;
        let host = obj.get("host").and_then(|v| v.as_str()).ok_or_else(|| err(line, "field `host`: missing or not a string".into()))?;
        if kind == "run.meta" {
            meta = Some(RunMeta {
                scenario: obj.get("scenario").and_then(|v| v.as_str()).unwrap_or_default().to_string(),
                seed: obj.get("seed").and_then(|v| v.as_u64()).unwrap_or(0),
                duration_s: obj.get("duration_s").and_then(|v| v.as_u64()).ok_or_else(|| err(line, "field `duration_s`: missing or not a whole number".into()))?,
            });
            continue;
        }
        let mut fields = Vec::new();
        for (k, v) in &obj {
            if matches!(k.as_str(), "t_ns" | "host" | "kind") {
                continue;
            }
            let fv = match v {
                serde_json::Value::String(s) => FieldValue::Str(s.clone()),
                serde_json::Value::Bool(b) => FieldValue::Bool(*b),
                serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                    (Some(u), _) => FieldValue::U64(u),
                    (None, Some(i)) => FieldValue::I64(i),
                    _ => return Err(err(line, format!("field `{k}`: not a whole number"))),
                },
                _ => return Err(err(line, format!("field `{k}`: expected a string, number or boolean"))),
            };
            fields.push((k.clone(), fv));
        }
        events.push(Event { t_ns, host: host.to_string(), kind: kind.to_string(), fields });
    }
    let meta = meta.unwrap_or_else(|| RunMeta {
        scenario: Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        seed: 0,
        duration_s: events.last().map(|e| e.t_ns.div_ceil(1_000_000_000)).unwrap_or(0),
    });
    Ok((meta, events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_a_run_writes() {
        let e = Event {
            t_ns: 5_000_000,
            host: "node-1".into(),
            kind: "pod.credentials".into(),
            fields: vec![("pod".into(), FieldValue::Str("a\"b".into())), ("first".into(), FieldValue::Bool(true)), ("wait_ms".into(), FieldValue::U64(7))],
        };
        let meta = RunMeta { scenario: "s".into(), seed: 9, duration_s: 60 };
        let text = format!("{}\n{}\n", meta_line(&meta), e.to_json_line());
        let (m, events) = parse("t.jsonl", &text).unwrap();
        assert_eq!((m.scenario.as_str(), m.seed, m.duration_s), ("s", 9, 60));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].to_json_line(), e.to_json_line());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = parse("t.jsonl", "{\"t_ns\":0,\"host\":\"h\",\"kind\":\"k\"}\n{\"t_ns\":\"x\"}\n").unwrap_err();
        assert_eq!(e.to_string(), "t.jsonl:2: field `t_ns`: missing or not a whole number");
        let e = parse("t.jsonl", "nope").unwrap_err();
        assert!(e.to_string().starts_with("t.jsonl:1: not JSON"), "{e}");
    }

    #[test]
    fn without_a_header_the_duration_is_the_last_event() {
        let (m, _) = parse("dir/run.jsonl", "{\"t_ns\":1500000000,\"host\":\"h\",\"kind\":\"k\"}\n").unwrap();
        assert_eq!((m.scenario.as_str(), m.duration_s), ("run", 2));
    }
}
