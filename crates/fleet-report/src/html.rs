//! The page: one HTML file with its CSS, its JS and its data inline.
//!
//! Device text is untrusted (a device can print anything), so the script
//! only ever puts it into the page with `textContent`, never as HTML, and
//! the embedded JSON has every `<` escaped so no output can close the
//! `<script>` element that carries it.

use crate::error::ReportError;
use crate::model::ReportData;

const TEMPLATE: &str = include_str!("report.html");

/// Renders the report page for `data`.
pub fn render(data: &ReportData) -> Result<String, ReportError> {
    let json = serde_json::to_string(data).map_err(ReportError::Serialise)?;
    Ok(page(&data.run.run_id, &json))
}

/// The page around already-serialised data.
fn page(title: &str, json: &str) -> String {
    let safe = script_safe(json);
    TEMPLATE
        .replacen("__TITLE__", &html_escape(title), 1)
        .replacen("__DATA__", &safe, 1)
}

/// JSON that cannot end its `<script>` element early: `<`, `>` and `&`
/// become `\u003c`-style escapes, which JSON.parse reads back unchanged.
pub fn script_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 50);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Text safe inside HTML element content or a quoted attribute.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_close_the_script() {
        let json =
            serde_json::to_string(&serde_json::json!({"o": "</script><script>alert(1)</script>"}))
                .unwrap();
        let html = page("r<1>", &json);
        assert_eq!(
            html.matches("</script>").count(),
            TEMPLATE.matches("</script>").count()
        );
        assert!(html.contains("<title>fleet report r&lt;1&gt;</title>"));
        let back: serde_json::Value = serde_json::from_str(&script_safe(&json)).unwrap();
        assert_eq!(back["o"], "</script><script>alert(1)</script>");
    }

    #[test]
    fn the_page_fetches_nothing() {
        // No external URLs in the template: it must open air-gapped.
        for needle in ["http://", "https://", "src=\"//", "@import", "url("] {
            assert!(!TEMPLATE.contains(needle), "template contains {needle}");
        }
    }
}
