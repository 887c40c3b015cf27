//! Go templates for `--format`, on top of `gtmpl`, with the functions the docker
//! CLI adds (json, join, lower, upper, title, split, truncate, pad, ...).
//!
//! gtmpl prints composite values with Rust's Debug format, while Go prints
//! `[a b]` and `map[k:v]`. So every printing action is rewritten to end in a
//! `berthPrint` pipeline stage that renders the value the way Go's fmt does.

use std::collections::HashMap;

use gtmpl::{Context, Func, FuncError, Template, Value};
use gtmpl_value::Number;

/// Name of the function appended to printing actions.
const PRINT_FUNC: &str = "berthPrint";

/// A parsed `--format` template.
pub struct GoTemplate {
    tmpl: Template,
}

impl GoTemplate {
    /// Parses a template as the docker CLI does (`\t` and `\n` escapes expanded).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.replace("\\t", "\t").replace("\\n", "\n");
        let rewritten = rewrite_actions(&text);
        let mut tmpl = Template::default();
        let funcs: [(&str, Func); 14] = [
            (PRINT_FUNC, go_print),
            ("len", go_len),
            ("berthValues", berth_values),
            ("berthEntries", berth_entries),
            ("json", json),
            ("join", join),
            ("lower", lower),
            ("upper", upper),
            ("title", title),
            ("split", split),
            ("truncate", truncate),
            ("pad", pad),
            ("println", println),
            ("print", print),
        ];
        tmpl.add_funcs(&funcs);
        tmpl.parse(&rewritten)
            .map_err(|e| anyhow::anyhow!("template parsing error: {e}"))?;
        Ok(GoTemplate { tmpl })
    }

    /// Executes the template against a JSON value.
    pub fn render(&self, data: &serde_json::Value) -> anyhow::Result<String> {
        let ctx = Context::from(to_gtmpl(data));
        self.tmpl
            .render(&ctx)
            .map_err(|e| anyhow::anyhow!("template: {e}"))
    }
}

/// Go's `len`, which gtmpl's lacks for maps (JSON objects become maps
/// here): `{{len .NetworkSettings.Networks}}`.
fn go_len(args: &[Value]) -> Result<Value, FuncError> {
    let n = match args {
        [Value::String(s)] => s.len(),
        [Value::Array(a)] => a.len(),
        [Value::Object(o)] => o.len(),
        [Value::Map(m)] => m.len(),
        [other] => {
            return Err(FuncError::Generic(format!(
                "error calling len: len of type {}",
                go_type_name(other)
            )))
        }
        _ => return Err(FuncError::ExactlyXArgs("len".into(), 1)),
    };
    Ok(Value::from(n as i64))
}

/// The Go type a value stands for, in `len`'s error.
fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil | Value::NoValue => "untyped nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        _ => "value",
    }
}

/// Converts JSON into a gtmpl value; objects become maps (missing keys print `<no value>`).
pub fn to_gtmpl(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_gtmpl).collect()),
        serde_json::Value::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), to_gtmpl(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// Converts back to JSON for the `json` function; map keys come out sorted, as Go sorts maps.
fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => number_json(n),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        Value::Map(m) | Value::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            serde_json::Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), to_json(&m[k])))
                    .collect(),
            )
        }
    }
}

fn number_json(n: &Number) -> serde_json::Value {
    if let Some(i) = n.as_i64() {
        serde_json::Value::from(i)
    } else if let Some(u) = n.as_u64() {
        serde_json::Value::from(u)
    } else {
        serde_json::Value::from(n.as_f64().unwrap_or(0.0))
    }
}

/// Renders a value like Go's `fmt.Sprint`.
pub fn go_format(v: &Value) -> String {
    match v {
        Value::NoValue => "<no value>".into(),
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Function(_) => String::new(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => crate::humanize::format_g(f, 17),
            _ => String::new(),
        },
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::Map(m) | Value::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_format(&m[k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Go's json.Marshal escapes <, > and & for HTML safety; docker output shows that.
fn go_json_string(v: &serde_json::Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn arg<'a>(args: &'a [Value], i: usize, name: &str) -> Result<&'a Value, FuncError> {
    args.get(i)
        .ok_or_else(|| FuncError::Generic(format!("{name}: missing argument")))
}

fn str_arg(args: &[Value], i: usize, name: &str) -> Result<String, FuncError> {
    Ok(go_format(arg(args, i, name)?))
}

fn int_arg(args: &[Value], i: usize, name: &str) -> Result<i64, FuncError> {
    match arg(args, i, name)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| FuncError::Generic(format!("{name}: expected an integer"))),
        Value::String(s) => s
            .parse()
            .map_err(|_| FuncError::Generic(format!("{name}: expected an integer"))),
        _ => Err(FuncError::Generic(format!("{name}: expected an integer"))),
    }
}

fn go_print(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(args.iter().map(go_format).collect()))
}

fn json(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(go_json_string(&to_json(arg(
        args, 0, "json",
    )?))))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = str_arg(args, 1, "join")?;
    let items = match arg(args, 0, "join")? {
        Value::Array(a) => a.iter().map(go_format).collect::<Vec<_>>(),
        Value::Nil | Value::NoValue => Vec::new(),
        other => vec![go_format(other)],
    };
    Ok(Value::String(items.join(&sep)))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(str_arg(args, 0, "lower")?.to_lowercase()))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(str_arg(args, 0, "upper")?.to_uppercase()))
}

/// strings.Title: upper-cases the first letter of each word.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    let s = str_arg(args, 0, "title")?;
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphanumeric() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    Ok(Value::String(out))
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    let s = str_arg(args, 0, "split")?;
    let sep = str_arg(args, 1, "split")?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect()
    };
    Ok(Value::Array(parts))
}

fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = str_arg(args, 0, "truncate")?;
    let n = int_arg(args, 1, "truncate")?.max(0) as usize;
    Ok(Value::String(s.chars().take(n).collect()))
}

fn pad(args: &[Value]) -> Result<Value, FuncError> {
    let s = str_arg(args, 0, "pad")?;
    let prefix = int_arg(args, 1, "pad")?.max(0) as usize;
    let suffix = int_arg(args, 2, "pad")?.max(0) as usize;
    Ok(Value::String(format!(
        "{}{s}{}",
        " ".repeat(prefix),
        " ".repeat(suffix)
    )))
}

/// fmt.Sprintln: operands separated by spaces, newline appended.
fn println(args: &[Value]) -> Result<Value, FuncError> {
    let parts: Vec<String> = args.iter().map(go_format).collect();
    Ok(Value::String(format!("{}\n", parts.join(" "))))
}

/// fmt.Sprint: spaces only between operands when neither is a string.
fn print(args: &[Value]) -> Result<Value, FuncError> {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, Value::String(_));
        if i > 0 && !is_str && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        out.push_str(&go_format(a));
    }
    Ok(Value::String(out))
}

/// Keywords that start actions which print nothing themselves.
const CONTROL: [&str; 10] = [
    "if", "else", "end", "with", "define", "template", "block", "break", "continue", "/*",
];

/// Appends `| berthPrint` to every action that prints its pipeline's value.
fn rewrite_actions(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = find_action_end(after) else {
            // Unterminated action: leave it for the parser to report.
            out.push_str(&rest[start..]);
            return out;
        };
        out.push_str(&rewrite_action(&after[..end]));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Rewrites one action given its body (text between `{{` and `}}`) and returns
/// the replacement including the braces.
fn rewrite_action(body: &str) -> String {
    let (left, inner) = match body.strip_prefix("- ") {
        Some(r) => ("- ", r),
        None => ("", body),
    };
    let (inner, right) = match inner.strip_suffix(" -") {
        Some(r) => (r, " -"),
        None => (inner, ""),
    };
    let trimmed = inner.trim_start();
    let first = trimmed
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    if first == "range" {
        return rewrite_range(left, trimmed["range".len()..].trim(), right);
    }
    let is_control = CONTROL.contains(&first) || trimmed.starts_with("/*");
    if is_control || trimmed.is_empty() || is_declaration(trimmed) {
        return format!("{{{{{body}}}}}");
    }
    format!("{{{{{left}{inner} | {PRINT_FUNC}{right}}}}}")
}

/// gtmpl ranges over maps in hash order; Go in key order. So the ranged value
/// goes through `berthValues` (values sorted by key) or, when the key is
/// declared, `berthEntries` (sorted {Key, Value} pairs) whose fields are then
/// bound to the template's own variables.
fn rewrite_range(left: &str, spec: &str, right: &str) -> String {
    let (decl, pipe) = match spec.split_once(":=") {
        Some((d, p)) if d.trim_start().starts_with('$') => (Some(d.trim()), p.trim()),
        _ => (None, spec),
    };
    match decl.map(|d| d.split(',').map(str::trim).collect::<Vec<_>>()) {
        Some(vars) if vars.len() == 2 => format!(
            "{{{{{left}range $berthE := berthEntries ({pipe})}}}}{{{{{} := $berthE.Key}}}}{{{{{} := $berthE.Value{right}}}}}",
            vars[0], vars[1]
        ),
        Some(vars) => format!(
            "{{{{{left}range {} := berthValues ({pipe}){right}}}}}",
            vars.join(", ")
        ),
        None => format!("{{{{{left}range berthValues ({pipe}){right}}}}}"),
    }
}

fn sorted_entries(v: &Value) -> Vec<(Value, Value)> {
    match v {
        Value::Map(m) | Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            keys.into_iter()
                .map(|k| (Value::String(k.clone()), m[k].clone()))
                .collect()
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, e)| (Value::from(i as i64), e.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

fn berth_values(args: &[Value]) -> Result<Value, FuncError> {
    let v = arg(args, 0, "range")?;
    match v {
        Value::Nil | Value::NoValue => Ok(Value::Array(Vec::new())),
        Value::Map(_) | Value::Object(_) | Value::Array(_) => Ok(Value::Array(
            sorted_entries(v).into_iter().map(|(_, e)| e).collect(),
        )),
        other => Err(FuncError::Generic(format!(
            "range can't iterate over {}",
            go_format(other)
        ))),
    }
}

fn berth_entries(args: &[Value]) -> Result<Value, FuncError> {
    let v = arg(args, 0, "range")?;
    Ok(Value::Array(
        sorted_entries(v)
            .into_iter()
            .map(|(k, e)| {
                Value::Map(HashMap::from([
                    ("Key".to_string(), k),
                    ("Value".to_string(), e),
                ]))
            })
            .collect(),
    ))
}

/// `$x := ...` or `$x = ...` prints nothing.
fn is_declaration(s: &str) -> bool {
    if !s.starts_with('$') {
        return false;
    }
    let after_var = s.trim_start_matches(|c: char| c == '$' || c.is_alphanumeric() || c == '_');
    let after_var = after_var.trim_start();
    after_var.starts_with(":=") || (after_var.starts_with('=') && !after_var.starts_with("=="))
}

/// Index of the closing `}}` of an action, skipping string and char literals.
fn find_action_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => {
                let q = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: serde_json::Value) -> String {
        GoTemplate::parse(t).unwrap().render(&v).unwrap()
    }

    #[test]
    fn len_counts_maps_lists_and_strings() {
        let v = json!({"Nets": {"a": {}, "b": {}}, "L": [1, 2, 3], "S": "abcd", "N": null});
        assert_eq!(
            render("{{len .Nets}} {{len .L}} {{len .S}}", v.clone()),
            "2 3 4"
        );
        let err = GoTemplate::parse("{{len .N}}")
            .unwrap()
            .render(&v)
            .unwrap_err();
        assert!(err.to_string().contains("len of type untyped nil"), "{err}");
    }

    fn inspect() -> serde_json::Value {
        json!({
            "Name": "/ins", "Path": "sleep", "Args": ["100"],
            "State": {"Status": "running", "Running": true, "ExitCode": 0},
            "Config": {"Labels": {"b": "2", "a": "x<y"}, "Env": ["K=V", "PATH=/bin"],
                       "Cmd": ["sleep", "100"], "Image": "busybox"},
            "HostConfig": {"Memory": 67108864, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}
        })
    }

    #[test]
    fn fields_and_lists() {
        assert_eq!(render("{{.State.Status}}", inspect()), "running");
        assert_eq!(
            render("{{.Name}} {{.Path}} {{.Args}} {{.Config.Image}}", inspect()),
            "/ins sleep [100] busybox"
        );
        assert_eq!(
            render(
                "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}} {{.State.Running}}",
                inspect()
            ),
            "67108864 on-failure true"
        );
    }

    #[test]
    fn json_function_sorts_and_escapes_like_go() {
        assert_eq!(
            render("{{json .Config.Labels}} {{json .Config.Cmd}}", inspect()),
            r#"{"a":"x\u003cy","b":"2"} ["sleep","100"]"#
        );
    }

    #[test]
    fn range_with_println() {
        assert_eq!(
            render("{{range .Config.Env}}{{println .}}{{end}}", inspect()),
            "K=V\nPATH=/bin\n"
        );
    }

    #[test]
    fn docker_string_functions() {
        let v = json!({"Names": ["a", "b"], "S": "Hello World", "Id": "0123456789abcdef"});
        assert_eq!(render("{{join .Names \",\"}}", v.clone()), "a,b");
        assert_eq!(
            render("{{lower .S}}|{{upper .S}}", v.clone()),
            "hello world|HELLO WORLD"
        );
        assert_eq!(render("{{title \"foo bar\"}}", v.clone()), "Foo Bar");
        assert_eq!(render("{{truncate .Id 4}}", v.clone()), "0123");
        assert_eq!(render("{{pad .Names 1 2}}|", v.clone()), " [a b]  |");
        assert_eq!(render("{{index (split .S \" \") 1}}", v.clone()), "World");
        assert_eq!(render("{{.Missing}}", v.clone()), "<no value>");
        assert_eq!(render("a\\tb", v), "a\tb");
    }

    #[test]
    fn control_actions_and_maps() {
        let v = json!({"L": {"k": "v", "a": 1}, "On": true, "N": null});
        assert_eq!(render("{{.L}}", v.clone()), "map[a:1 k:v]");
        assert_eq!(render("{{if .On}}yes{{else}}no{{end}}", v.clone()), "yes");
        assert_eq!(
            render("{{range $k, $v := .L}}{{$k}}={{$v}};{{end}}", v.clone()),
            "a=1;k=v;"
        );
        assert_eq!(render("{{- $x := .On -}} {{ $x }}", v.clone()), "true");
        assert_eq!(render("{{.N}}", v.clone()), "<nil>");
        let many = json!({"M": {"e": 5, "b": 2, "d": 4, "a": 1, "c": 3}, "A": ["x", "y"]});
        for _ in 0..5 {
            assert_eq!(render("{{range .M}}{{.}}{{end}}", many.clone()), "12345");
            assert_eq!(
                render("{{range $k, $v := .M}}{{$k}}{{$v}} {{end}}", many.clone()),
                "a1 b2 c3 d4 e5 "
            );
        }
        assert_eq!(
            render("{{range $i, $e := .A}}{{$i}}:{{$e}} {{end}}", many.clone()),
            "0:x 1:y "
        );
        assert_eq!(
            render("{{range $e := .A}}{{$e}}{{end}}", many.clone()),
            "xy"
        );
        assert_eq!(
            render("{{range .Nope}}x{{else}}empty{{end}}", many.clone()),
            "empty"
        );
        assert_eq!(render("{{range .A -}} {{.}} {{- end}}", many), "xy");
    }

    #[test]
    fn rewrites_only_printing_actions() {
        assert_eq!(rewrite_actions("{{.A}}"), "{{.A | berthPrint}}");
        assert_eq!(rewrite_actions("{{- .A -}}"), "{{- .A | berthPrint -}}");
        assert_eq!(rewrite_actions("{{if .A}}x{{end}}"), "{{if .A}}x{{end}}");
        assert_eq!(
            rewrite_actions("{{range .L}}"),
            "{{range berthValues (.L)}}"
        );
        assert_eq!(rewrite_actions("{{\"}}\"}}"), "{{\"}}\" | berthPrint}}");
    }

    #[test]
    fn bad_template_is_an_error() {
        assert!(
            GoTemplate::parse("{{.A").is_err()
                || GoTemplate::parse("{{.A")
                    .unwrap()
                    .render(&json!({}))
                    .is_err()
        );
        assert!(GoTemplate::parse("{{if}}").is_err());
    }
}
