//! Output formatting shared by list commands: Docker's `--format` values
//! (`table`, `table TEMPLATE`, `json`, raw Go template) rendered over JSON rows,
//! tables aligned the way Go's tabwriter(minwidth 10, padding 3) aligns them.

pub mod template;

use std::io::Write;

use serde_json::Value;
use tabwriter::TabWriter;

pub use template::GoTemplate;

/// Go's tabwriter makes a column max(cell + padding, minwidth) wide, the
/// `tabwriter` crate max(cell, minwidth) + padding: docker's minwidth 10 with
/// padding 3 is thus minwidth 7 here.
fn table_writer() -> TabWriter<Vec<u8>> {
    TabWriter::new(Vec::new()).minwidth(7).padding(3)
}

/// How a list command prints its items.
pub enum Format {
    /// A table: header row from the template, then one row per item.
    Table(String),
    /// A raw template, one rendering per item.
    Raw(String),
}

impl Format {
    /// Interprets a `--format` value; `default_table` is the command's default table.
    pub fn parse(format: &str, default_table: &str) -> Format {
        let f = format.trim();
        if f.is_empty() || f == "table" {
            return Format::Table(default_table.to_string());
        }
        if let Some(rest) = f.strip_prefix("table ") {
            return Format::Table(rest.trim().to_string());
        }
        if f == "json" {
            return Format::Raw("{{json .}}".to_string());
        }
        Format::Raw(format.to_string())
    }
}

/// Writes `items` in `format`. `headers` maps field names to their table
/// headers (e.g. `"ID": "CONTAINER ID"`), used to render the header row.
pub fn write_list<W: Write>(
    out: &mut W,
    format: &Format,
    headers: &Value,
    items: &[Value],
) -> anyhow::Result<()> {
    match format {
        Format::Table(t) => {
            let tmpl = GoTemplate::parse(t)?;
            let mut tw = table_writer();
            writeln!(tw, "{}", tmpl.render(headers)?)?;
            for item in items {
                writeln!(tw, "{}", tmpl.render(item)?)?;
            }
            tw.flush()?;
            let buf = tw
                .into_inner()
                .map_err(|e| anyhow::anyhow!("table output: {e}"))?;
            out.write_all(&buf)?;
        }
        Format::Raw(t) => {
            let tmpl = GoTemplate::parse(t)?;
            for item in items {
                writeln!(out, "{}", tmpl.render(item)?)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Writes plain tab-separated rows aligned as a docker table (top, history...).
pub fn write_table<W: Write>(out: &mut W, rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut tw = table_writer();
    for row in rows {
        writeln!(tw, "{}", row.join("\t"))?;
    }
    tw.flush()?;
    let buf = tw
        .into_inner()
        .map_err(|e| anyhow::anyhow!("table output: {e}"))?;
    out.write_all(&buf)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_columns_with_headers() {
        let headers = json!({"ID": "CONTAINER ID", "Names": "NAMES"});
        let items = vec![
            json!({"ID": "abc", "Names": "x"}),
            json!({"ID": "abcdef0123456", "Names": "yy"}),
        ];
        let mut out = Vec::new();
        write_list(
            &mut out,
            &Format::parse("", "{{.ID}}\t{{.Names}}"),
            &headers,
            &items,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "CONTAINER ID    NAMES\nabc             x\nabcdef0123456   yy\n"
        );
        let mut out = Vec::new();
        let items = vec![json!({"T": "latest", "N": "x"})];
        write_list(
            &mut out,
            &Format::parse("", "{{.T}}\t{{.N}}"),
            &json!({"T": "TAG", "N": "N"}),
            &items,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "TAG       N\nlatest    x\n"
        );
    }

    #[test]
    fn raw_and_json_formats() {
        let items = vec![json!({"ID": "a"}), json!({"ID": "b"})];
        let mut out = Vec::new();
        write_list(&mut out, &Format::parse("{{.ID}}", "x"), &json!({}), &items).unwrap();
        assert_eq!(out, b"a\nb\n");
        let mut out = Vec::new();
        write_list(
            &mut out,
            &Format::parse("json", "x"),
            &json!({}),
            &items[..1],
        )
        .unwrap();
        assert_eq!(out, b"{\"ID\":\"a\"}\n");
    }

    #[test]
    fn table_prefix_with_custom_template() {
        let mut out = Vec::new();
        write_list(
            &mut out,
            &Format::parse("table {{.ID}}", "x"),
            &json!({"ID": "IMAGE ID"}),
            &[json!({"ID": "a"})],
        )
        .unwrap();
        assert_eq!(out, b"IMAGE ID\na\n");
    }
}
