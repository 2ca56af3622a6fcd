//! The review as one self-contained HTML page: inline CSS and SVG, no script, no
//! request of any kind (a Content-Security-Policy of `default-src 'none'` says so to the
//! browser too), every value escaped. Readable without JavaScript, printable.
//!
//! For a large org the page stays usable: the findings come first (the first
//! [`FINDINGS_LIMIT`]), and the user table lists users with findings first, up to
//! [`ROWS_LIMIT`] rows; the page says how many it left out and where the full list is
//! (`--format csv` or `json`).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{Review, UserRow};

/// Findings listed on the page.
pub const FINDINGS_LIMIT: usize = 1_000;
/// Users listed in the table.
pub const ROWS_LIMIT: usize = 5_000;

/// The Content-Security-Policy of the page.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// Escape text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

// A finding's message with its backticked values as <code>.
fn message_html(message: &str) -> String {
    let mut out = String::new();
    for (at, part) in message.split('`').enumerate() {
        if at % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

const STYLE: &str = r#"
:root { --ink:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#f6f8fa; --warn:#9a6700; --warnbg:#fff8c5; --info:#0969da; --infobg:#ddf4ff; --ok:#1a7f37; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); margin: 0; background: #fff; }
header { background: #24292f; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #d0d7de; }
header code { background: rgba(255,255,255,.15); color: #fff; }
td.nw { white-space: nowrap; }
main { padding: 20px 32px 40px; max-width: 1280px; }
h2 { font-size: 17px; margin: 28px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; min-width: 130px; background: var(--bg); }
.card .n { font-size: 26px; font-weight: 600; display: block; }
.card .l { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card.warn .n { color: var(--warn); }
.card.ok .n { color: var(--ok); }
.charts { display: flex; flex-wrap: wrap; gap: 24px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
figcaption { font-weight: 600; margin-bottom: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--bg); padding: 0 3px; border-radius: 4px; }
.sev { font-weight: 600; font-size: 12px; padding: 1px 6px; border-radius: 10px; white-space: nowrap; }
.sev.warning { color: var(--warn); background: var(--warnbg); }
.sev.info { color: var(--info); background: var(--infobg); }
.sug { color: var(--ok); white-space: nowrap; }
.muted { color: var(--muted); }
tr.flag td:first-child { border-left: 3px solid var(--warn); }
footer { color: var(--muted); font-size: 12px; margin-top: 32px; }
@media print { header { background: #fff; color: #000; } th { position: static; } }
"#;

/// Render the page. `org` is the organization's name (escaped here).
pub fn render_html(review: &Review, org: &str, out: &mut dyn Write) -> io::Result<()> {
    let mut page = String::with_capacity(4096 + review.users.len().min(ROWS_LIMIT) * 400);
    let s = &review.summary;
    let title = format!("Seat and access review — {org}");
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = write!(
        page,
        "<header><h1>Seat and access review — {}</h1><p>As of <b id=\"as-of\">{}</b> · \
         activity window {} to {} ({} days)",
        escape(org),
        review.as_of,
        review.window.start,
        review.window.end,
        review.inactive_days
    );
    match &review.usage {
        Some(usage) => {
            let _ = write!(
                page,
                " · usage <code>{}</code> ({} to {})",
                escape(&usage.source),
                usage.start,
                usage.end
            );
        }
        None => page.push_str(" · no usage data: static findings only"),
    }
    page.push_str("</p></header>\n<main>\n");

    // Headline figures.
    let surplus: i64 = review
        .seats
        .tiers()
        .into_iter()
        .map(|(_, t)| t)
        .map(|t| i64::from(t.purchased) - t.assigned as i64)
        .filter(|n| *n > 0)
        .sum();
    let cards: [(&str, String, &str, &str); 7] = [
        ("users", s.users.to_string(), "Users", ""),
        ("active", s.active.to_string(), "Active in window", "ok"),
        ("inactive", s.inactive.to_string(), "Inactive", "warn"),
        ("unknown", s.usage_unknown.to_string(), "Usage unknown", ""),
        ("warnings", s.warnings.to_string(), "Warnings", "warn"),
        ("suggestions", s.suggestions.to_string(), "Suggestions", ""),
        ("unassigned", surplus.to_string(), "Seats unassigned", ""),
    ];
    page.push_str("<section aria-label=\"headline figures\"><div class=\"cards\">\n");
    for (id, number, label, class) in cards {
        let _ = writeln!(
            page,
            "<div class=\"card {class}\"><span class=\"n\" id=\"fig-{id}\">{number}</span>\
             <span class=\"l\">{label}</span></div>"
        );
    }
    page.push_str("</div></section>\n");

    // Charts.
    page.push_str("<h2>Seats and activity</h2>\n<div class=\"charts\">\n");
    seats_chart(review, &mut page);
    activity_chart(review, &mut page);
    page.push_str("</div>\n");

    // Findings.
    let _ = writeln!(
        page,
        "<h2 id=\"findings\">Findings ({})</h2>",
        review.findings.len()
    );
    if review.findings.is_empty() {
        page.push_str("<p>No findings.</p>\n");
    } else {
        // Counts per code first: on a large org the list itself is long.
        let counts: Vec<String> = super::CODES
            .iter()
            .filter_map(|code| {
                let count = s.by_code.get(code).copied().unwrap_or(0);
                (count > 0).then(|| format!("<code>{code}</code> {count}"))
            })
            .collect();
        let _ = write!(page, "<p id=\"by-code\">{}", counts.join(" · "));
        page.push_str("</p>\n");
        page.push_str(
            "<table id=\"findings-table\"><thead><tr><th>Severity</th><th>Code</th><th>User</th>\
             <th>Finding</th><th>Suggestion</th></tr></thead><tbody>\n",
        );
        for finding in review.findings.iter().take(FINDINGS_LIMIT) {
            let severity = finding.severity.as_str();
            let suggestion = match &finding.suggestion {
                Some(sug) => format!(
                    "<span class=\"sug\"><code>{}: {} → {}</code></span><br><span class=\"muted\">{}:{}</span>",
                    escape(sug.field),
                    escape(&sug.before),
                    escape(&sug.after),
                    escape(&sug.file),
                    sug.line
                ),
                None => "<span class=\"muted\">—</span>".to_owned(),
            };
            let _ = writeln!(
                page,
                "<tr><td><span class=\"sev {severity}\">{severity}</span></td><td class=\"nw\"><code>{}</code></td>\
                 <td>{}</td><td>{}</td><td>{suggestion}</td></tr>",
                finding.code,
                finding.email.as_deref().map(escape).unwrap_or_default(),
                message_html(&finding.message),
            );
        }
        page.push_str("</tbody></table>\n");
        if review.findings.len() > FINDINGS_LIMIT {
            let _ = writeln!(
                page,
                "<p class=\"muted\">The first {FINDINGS_LIMIT} of {} findings; every one is in \
                 <code>orgplan review --format json</code>.</p>",
                review.findings.len()
            );
        }
    }

    // Users: those with findings first.
    let _ = writeln!(page, "<h2 id=\"users\">Users ({})</h2>", review.users.len());
    let mut order: Vec<&UserRow> = review.users.iter().collect();
    order.sort_by_key(|u| u.findings.is_empty());
    page.push_str(
        "<table id=\"users-table\"><thead><tr><th>Email</th><th>Name</th><th>Role</th><th>Seat</th>\
         <th>Status</th><th>Groups</th><th>Last active</th><th class=\"num\">Days</th>\
         <th class=\"num\">Chat</th><th class=\"num\">Claude Code</th><th>Findings</th></tr></thead><tbody>\n",
    );
    let opt = |n: Option<String>| n.unwrap_or_else(|| "—".to_owned());
    for user in order.iter().take(ROWS_LIMIT) {
        let flag = if user.findings.is_empty() {
            ""
        } else {
            " class=\"flag\""
        };
        let _ = writeln!(
            page,
            "<tr{flag}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"nw\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&user.email),
            escape(user.name.as_deref().unwrap_or("")),
            user.role,
            user.seat,
            user.status,
            escape(&user.groups.join(", ")),
            opt(user.last_active.map(|d| d.to_string())),
            opt(user.days_inactive.map(|d| d.to_string())),
            opt(user.chat_messages.map(|d| d.to_string())),
            opt(user.claude_code_sessions.map(|d| d.to_string())),
            user.findings.join(", "),
        );
    }
    page.push_str("</tbody></table>\n");
    if review.users.len() > ROWS_LIMIT {
        let _ = writeln!(
            page,
            "<p class=\"muted\" id=\"rows-note\">{ROWS_LIMIT} of {} users shown, those with \
             findings first; the full list is in <code>orgplan review --format csv</code>.</p>",
            review.users.len()
        );
    }
    let _ = write!(
        page,
        "<footer>orgplan {} · <code>orgplan review</code> · the same inputs and \
         <code>--as-of</code> give the same page.</footer>\n</main>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out.write_all(page.as_bytes())
}

const COLORS: [&str; 3] = ["#8c959f", "#0969da", "#1a7f37"];

fn seats_chart(review: &Review, page: &mut String) {
    let (width, height, top, bottom, left) = (440.0, 256.0, 44.0, 40.0, 36.0);
    let plot = height - top - bottom;
    let max = review
        .seats
        .tiers()
        .into_iter()
        .map(|(_, t)| t)
        .flat_map(|t| [t.purchased as usize, t.assigned, t.active.unwrap_or(0)])
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let _ = write!(
        page,
        "<figure><figcaption>Seats per tier</figcaption>\
         <svg id=\"chart-seats\" role=\"img\" aria-label=\"seats per tier: purchased, assigned, active\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#d1d9e0\"/>",
        top + plot,
        width - 8.0,
        top + plot
    );
    let group = (width - left - 8.0) / 2.0;
    let bar = (group - 40.0) / 3.0;
    for (at, (tier, seats)) in review.seats.tiers().into_iter().enumerate() {
        let values = [
            ("purchased", Some(seats.purchased as usize)),
            ("assigned", Some(seats.assigned)),
            ("active", seats.active),
        ];
        let x0 = left + at as f64 * group + 20.0;
        for (i, (label, value)) in values.iter().enumerate() {
            let x = x0 + i as f64 * bar;
            let Some(value) = value else {
                let _ = write!(
                    page,
                    "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#59636e\">n/a</text>",
                    x + bar / 2.0,
                    top + plot - 4.0
                );
                continue;
            };
            let h = plot * (*value as f64) / max;
            let _ = write!(
                page,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{tier} {label}: {value}</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#1f2328\">{value}</text>",
                x + 2.0,
                top + plot - h,
                bar - 4.0,
                h,
                COLORS[i],
                x + bar / 2.0,
                top + plot - h - 4.0
            );
        }
        let _ = write!(
            page,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\" font-weight=\"600\" fill=\"#1f2328\">{tier}</text>",
            x0 + 1.5 * bar,
            top + plot + 18.0
        );
    }
    // Legend.
    for (i, label) in ["purchased", "assigned", "active"].iter().enumerate() {
        let x = left + i as f64 * 100.0;
        let _ = write!(
            page,
            "<rect x=\"{x:.1}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"13\" font-size=\"12\" fill=\"#1f2328\">{label}</text>",
            COLORS[i],
            x + 14.0
        );
    }
    page.push_str("</svg></figure>\n");
}

fn activity_chart(review: &Review, page: &mut String) {
    let (width, height, top, bottom, left) = (520.0, 256.0, 44.0, 40.0, 12.0);
    let plot = height - top - bottom;
    let buckets = review.summary.activity.buckets();
    let max = buckets.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let _ = write!(
        page,
        "<figure><figcaption>Users by days since last activity</figcaption>\
         <svg id=\"chart-activity\" role=\"img\" aria-label=\"users by days since last activity\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#d1d9e0\"/>",
        top + plot,
        width - 8.0,
        top + plot
    );
    if review.usage.is_none() {
        let _ = write!(
            page,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\" fill=\"#59636e\">no usage data</text>",
            width / 2.0,
            top + plot / 2.0
        );
    }
    let slot = (width - left - 8.0) / buckets.len() as f64;
    let colors = [
        "#1a7f37", "#4ac26b", "#d4a72c", "#cf222e", "#82071e", "#8c959f",
    ];
    for (at, (label, count)) in buckets.iter().enumerate() {
        let x = left + at as f64 * slot;
        let h = plot * (*count as f64) / max;
        let _ = write!(
            page,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{label}: {count}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#1f2328\">{count}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#1f2328\">{label}</text>",
            x + 8.0,
            top + plot - h,
            slot - 16.0,
            h,
            colors[at],
            x + slot / 2.0,
            top + plot - h - 4.0,
            x + slot / 2.0,
            top + plot + 18.0
        );
    }
    page.push_str("</svg></figure>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_that_could_be_markup_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(
            message_html("`<b>` is `a&b`"),
            "<code>&lt;b&gt;</code> is <code>a&amp;b</code>"
        );
    }
}
