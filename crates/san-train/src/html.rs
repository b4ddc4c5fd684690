//! Self-contained HTML pages: one file, inline CSS, images as `data:` URIs, no script and
//! no network access. Every text that comes from a corpus, a query or a file name goes
//! through [`escape`].

use std::fmt::Write as _;

/// `text` with `& < > " '` replaced by their character references, so that it renders as
/// text in element content and in quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A `data:` URI of `bytes` with media type `mime` (base64).
pub fn data_uri(mime: &str, bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

const STYLE: &str = "
body { font-family: sans-serif; margin: 24px; color: #222; background: #fafafa; }
h1 { font-size: 20px; margin: 0 0 4px; }
p.sub { color: #555; margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 10px; width: 300px; }
.card.true { border: 2px solid #2a7; }
.card .head { display: flex; justify-content: space-between; font-size: 13px; color: #555; }
.card .name { font-family: monospace; font-size: 12px; word-break: break-all; }
.card .caption { margin: 6px 0; font-size: 14px; }
.badge { background: #2a7; color: #fff; border-radius: 3px; padding: 1px 5px; font-size: 12px; }
.bad { background: #c33; }
mark { background: #fd5; }
img.preview { display: block; max-width: 100%; image-rendering: pixelated; background: #606060; }
.pair { display: flex; gap: 16px; align-items: flex-start; background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 10px; margin-bottom: 12px; }
.pair.true { border-left: 6px solid #2a7; }
.pair.false { border-left: 6px solid #c33; }
.side { flex: 1; }
.side h2 { font-size: 16px; margin: 0 0 6px; }
.clips { display: flex; flex-wrap: wrap; gap: 6px; }
.clip { width: 140px; font-size: 11px; }
table { border-collapse: collapse; margin: 8px 0 16px; background: #fff; }
td, th { border: 1px solid #ccc; padding: 3px 8px; font-size: 13px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img.plot { max-width: 800px; display: block; margin: 8px 0 16px; }
";

/// A whole page: `title` (escaped here) and a `body` that is already HTML.
pub fn page(title: &str, subtitle: &str, body: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"de\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n<p class=\"sub\">{s}</p>\n{body}\n</body>\n</html>\n",
        t = escape(title),
        s = escape(subtitle),
    );
    out
}

/// `caption`'s words, escaped, with the words that are not in `query` marked.
pub fn marked_caption(caption: &str, query: &[String]) -> String {
    caption
        .split_whitespace()
        .map(|w| {
            let normal = san_core::text::words(w);
            let known = normal.iter().all(|n| query.contains(n));
            if known {
                escape(w)
            } else {
                format!("<mark>{}</mark>", escape(w))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `markdown` (a run's `report.md`) as a self-contained page: its text and tables, each
/// image it links (a PNG beside it in `dir`) inline, and any raw HTML in it shown as text.
pub fn markdown_page(title: &str, subtitle: &str, markdown: &str, dir: &std::path::Path) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let events = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let inline = std::fs::read(dir.join(dest_url.as_ref()))
                .map(|bytes| data_uri("image/png", &bytes).into())
                .unwrap_or(dest_url);
            Event::Start(Tag::Image {
                link_type,
                dest_url: inline,
                title,
                id,
            })
        }
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, events);
    page(
        title,
        subtitle,
        &body.replace("<img ", "<img class=\"plot\" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_everywhere() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        let p = page("<b>t</b>", "a < b", "<p>ok</p>");
        assert!(p.contains("<title>&lt;b&gt;t&lt;/b&gt;</title>") && p.contains("a &lt; b"));
        assert!(!p.contains("<b>t</b>"));
    }

    #[test]
    fn caption_words_missing_from_the_query_are_marked_and_escaped() {
        let q = vec!["regen".to_string(), "morgen".to_string()];
        assert_eq!(
            marked_caption("Regen <script> morgen", &q),
            "Regen <mark>&lt;script&gt;</mark> morgen"
        );
    }

    #[test]
    fn a_report_page_inlines_its_plots_and_shows_raw_html_as_text() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("p.png"), [137, 80, 78, 71])
            .unwrap_or_else(|e| panic!("{e}"));
        let md =
            "# Run\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![p](p.png)\n\n<script>x()</script>\n";
        let html = markdown_page("r", "s", md, dir.path());
        assert!(
            html.contains("<table>") && html.contains("<td>1</td>"),
            "{html}"
        );
        assert!(
            html.contains("src=\"data:image/png;base64,iVBORw==\""),
            "{html}"
        );
        assert!(
            !html.contains("<script>") && html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn data_uris_are_base64() {
        // "Man" is "TWFu" in base64 (RFC 4648's example)
        assert_eq!(
            data_uri("text/plain", b"Man"),
            "data:text/plain;base64,TWFu"
        );
    }
}
