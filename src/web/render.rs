//! The pages as HTML, with maud: every value is escaped by the template engine, and nothing
//! here ever receives a secret (rows arrive with secrets reduced to "set" / "not set").

use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

use super::query::{ready_key, Column, ListQuery};
use super::view::{ConditionView, Detail};
use crate::model::ConditionStatus;
use crate::probe::{LastPass, Live};
use crate::store::{ListedCredential, Page};

fn layout(title: &str, live: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · bccreds" }
                link rel="stylesheet" href="/assets/style.css";
                @if live {
                    // Without JavaScript, a live page still follows the passes.
                    noscript { meta http-equiv="refresh" content="5"; }
                }
                script src="/assets/app.js" defer {}
            }
            body data-live=(live) {
                header.bar {
                    a.brand href="/" { "bccreds" }
                    span.sub { "BigCommerce credentials" }
                }
                main id="main" { (body) }
            }
        }
    }
}

fn time(t: Option<DateTime<Utc>>) -> Markup {
    match t {
        Some(t) => html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S UTC")) } },
        None => html! { "-" },
    }
}

fn ready_badge(ready: Option<ConditionStatus>) -> Markup {
    match ready {
        Some(s) => {
            html! { span class={ "badge ready-" (ready_key(s)) } { (s.as_str()) } }
        }
        None => html! { span.muted { "-" } },
    }
}

fn last_pass(pass: Option<&LastPass>) -> Markup {
    html! {
        @if let Some(p) = pass {
            p id="last-pass" class={ "pass" @if p.error.is_some() { " pass-error" } } {
                "Last pass " (time(Some(p.at))) ": " (p.summary)
                @if let Some(e) = &p.error { " — " (e) }
            }
        }
    }
}

fn header_cell(q: &ListQuery, column: Column) -> Markup {
    let sorted = q.sort == column;
    // A click on the sorted column flips its order; on another, sorts ascending.
    let next_desc = sorted && !q.descending;
    let aria = sorted.then_some(if q.descending {
        "descending"
    } else {
        "ascending"
    });
    html! {
        th scope="col" data-column=(column.key()) aria-sort=[aria] {
            a href=(q.href(column, next_desc)) {
                (column.title())
                @if sorted { span.arrow aria-hidden="true" { @if q.descending { " ▼" } @else { " ▲" } } }
            }
        }
    }
}

fn option(value: &str, text: &str, selected: bool) -> Markup {
    html! { option value=(value) selected[selected] { (text) } }
}

fn filters(q: &ListQuery) -> Markup {
    html! {
        form id="filters" method="get" action="/" role="search" {
            div.field.grow {
                label for="search" { "Search label" }
                input type="search" name="q" id="search" value=(q.search) placeholder="Search by label" autocomplete="off";
            }
            div.field {
                label for="filter-status" { "Status" }
                select name="status" id="filter-status" {
                    (option("", "Any", q.status.is_none()))
                    (option("active", "Active", q.status == Some(true)))
                    (option("inactive", "Inactive", q.status == Some(false)))
                }
            }
            div.field {
                label for="filter-ready" { "Ready" }
                select name="ready" id="filter-ready" {
                    (option("", "Any", q.ready.is_none()))
                    @for s in ConditionStatus::ALL {
                        (option(&ready_key(*s), s.as_str(), q.ready == Some(*s)))
                    }
                }
            }
            div.field {
                label for="filter-managed" { "Managed" }
                select name="managed" id="filter-managed" {
                    (option("", "Any", q.managed.is_none()))
                    (option("yes", "Managed", q.managed == Some(true)))
                    (option("no", "Not managed", q.managed == Some(false)))
                }
            }
            input type="hidden" name="sort" value=(q.sort.key());
            input type="hidden" name="dir" value=(if q.descending { "desc" } else { "asc" });
            @if q.per_page != super::DEFAULT_PER_PAGE {
                input type="hidden" name="per_page" value=(q.per_page);
            }
            button type="submit" id="apply-filters" { "Filter" }
        }
    }
}

fn list_row(r: &ListedCredential) -> Markup {
    html! {
        tr data-id=(r.id) {
            td.col-label { a href={ "/credentials/" (r.id) } { (r.label) } }
            td.col-apiUrl { (r.api_url) }
            td.col-status { span class={ "badge " @if r.active { "active" } @else { "inactive" } } { @if r.active { "Active" } @else { "Inactive" } } }
            td.col-ready { (ready_badge(r.ready())) }
            td.col-managedBy { (r.owner_id.as_deref().unwrap_or("-")) }
            td.col-lastVerified { (time(r.last_verified_at)) }
            td.col-reason { (r.failure().unwrap_or("")) }
        }
    }
}

fn pager(page: &Page, q: &ListQuery) -> Markup {
    let pages = q.pages(page.matching);
    let first = (q.page - 1).saturating_mul(q.per_page) + 1;
    let last = first + page.rows.len() as u64 - 1;
    html! {
        nav id="pager" aria-label="Pages" {
            @if q.page > 1 {
                a rel="prev" href=(q.page_href((q.page - 1).min(pages))) { "← Previous" }
            }
            span id="page-position" {
                @if page.rows.is_empty() { "Page " (q.page) " of " (pages) }
                @else { "Rows " (first) "–" (last) " · page " (q.page) " of " (pages) }
            }
            @if q.page < pages {
                a rel="next" href=(q.page_href(q.page + 1)) { "Next →" }
            }
        }
    }
}

/// The part of the list page that live filtering and pass events replace: one page of rows,
/// how many match and are stored, and the way to the other pages.
pub fn results(page: &Page, q: &ListQuery) -> Markup {
    let noun = if page.stored == 1 {
        "credential"
    } else {
        "credentials"
    };
    html! {
        div id="results" aria-live="polite" {
            p id="count" { (page.matching) " of " (page.stored) " " (noun) }
            @if !page.unreadable.is_empty() {
                p id="unreadable" class="pass pass-error" {
                    "Left out, since they cannot be read: "
                    @for (i, (id, problem)) in page.unreadable.iter().enumerate() {
                        @if i > 0 { "; " }
                        "row " (id) " (" (problem) ")"
                    }
                }
            }
            @if page.rows.is_empty() {
                p id="empty" class="empty" {
                    @if page.stored == 0 {
                        "No credentials stored yet: nothing has been applied to this store."
                    } @else if page.matching > 0 {
                        "No rows on this page. " a href=(q.page_href(1)) { "Go to the first page" }
                    } @else if q.filters() {
                        "No credentials match these filters (" (page.stored) " stored). "
                        a href="/" { "Clear the filters" }
                    } @else {
                        "No credentials stored."
                    }
                }
            } @else {
                div.scroll {
                    table id="credentials" {
                        thead { tr { @for c in Column::ALL { (header_cell(q, c)) } } }
                        tbody { @for r in &page.rows { (list_row(r)) } }
                    }
                }
            }
            @if page.matching > q.per_page || q.page > 1 { (pager(page, q)) }
        }
    }
}

/// The list page.
pub fn list_page(rows: &Page, q: &ListQuery, live: Option<&Live>) -> String {
    let pass = live.and_then(|l| l.last_pass.as_ref());
    layout(
        "Credentials",
        live.is_some(),
        html! {
            div.title-row {
                h1 { "Credentials" }
                (last_pass(pass))
            }
            (filters(q))
            (results(rows, q))
        },
    )
    .into_string()
}

fn mapping_table(
    id: &str,
    caption: &str,
    left: &str,
    right: &str,
    map: &std::collections::BTreeMap<String, String>,
) -> Markup {
    html! {
        table id=(id) class="mapping" {
            caption { (caption) }
            thead { tr { th scope="col" { (left) } th scope="col" { (right) } } }
            tbody {
                @for (k, v) in map { tr { td { (k) } td { (v) } } }
                @if map.is_empty() { tr.none { td colspan="2" { "No mapping" } } }
            }
        }
    }
}

fn conditions_table(conditions: &[ConditionView]) -> Markup {
    html! {
        table id="conditions" {
            caption { "Conditions" }
            thead { tr { th scope="col" { "Type" } th scope="col" { "Status" } th scope="col" { "Reason" } th scope="col" { "Message" } th scope="col" { "Since" } } }
            tbody {
                @for c in conditions {
                    tr data-type=(c.type_) {
                        td.cond-type { (c.type_) }
                        td.cond-status { (ready_badge(Some(c.status))) }
                        td.cond-reason { (c.reason) }
                        td.cond-message { (c.message) }
                        td.cond-since { (time(c.since)) }
                    }
                }
                @if conditions.is_empty() { tr.none { td colspan="5" { "No conditions: bccreds does not manage this row." } } }
            }
        }
    }
}

fn field(name: &str, value: Markup) -> Markup {
    html! { dt { (name) } dd { (value) } }
}

fn text_or_dash(v: Option<&str>) -> Markup {
    html! { @match v { Some(v) if !v.is_empty() => { (v) } _ => { span.muted { "-" } } } }
}

/// The detail page of one credential.
pub fn detail_page(d: &Detail, live: Option<&Live>) -> String {
    let pass = live.and_then(|l| l.last_pass.as_ref());
    let data = &d.data;
    let set = |yes: bool| html! { @if yes { span.badge.set { "set" } } @else { span.muted { "not set" } } };
    let body = html! {
        nav.crumbs { a href="/" { "← Credentials" } }
        div.title-row {
            h1 id="title" { (data.label) }
            (last_pass(pass))
        }
        div.cards {
            section.card {
                h2 { "Credential" }
                dl id="fields" {
                    (field("Label", html! { (data.label) }))
                    (field("API URL", html! { (data.api_url) }))
                    (field("Client ID", text_or_dash(data.client_id.as_deref())))
                    (field("Status", html! { @if data.active { "Active" } @else { "Inactive" } }))
                    (field("Default locale", text_or_dash(data.default_locale.as_deref())))
                    (field("Default currency", text_or_dash(data.default_currency.as_deref())))
                    (field("Access token", set(d.data.access_token)))
                    (field("Client secret", set(d.data.client_secret)))
                    (field("Managed by", text_or_dash(d.owner.as_deref())))
                    (field("Source", text_or_dash(d.source.as_deref())))
                    (field("Last verified", time(d.last_verified_at)))
                    (field("Created", time(d.created_at)))
                    (field("Updated", time(d.updated_at)))
                }
            }
            section.card id="store-info" {
                h2 { "BigCommerce store" }
                @match &data.store_info {
                    Some(info) => {
                        dl {
                            (field("Name", text_or_dash(info.name.as_deref())))
                            (field("Hash", html! { (info.hash) }))
                            (field("Domain", text_or_dash(info.domain.as_deref())))
                            (field("Language", text_or_dash(info.language.as_deref())))
                            (field("Currency", text_or_dash(info.currency.as_deref())))
                        }
                    }
                    None => { p.muted { "Not verified by bccreds yet." } }
                }
            }
        }
        section.card {
            (conditions_table(&d.conditions))
        }
        div.cards {
            section.card { (mapping_table("locale-mapping", "Locale mapping", "UnoPim locale", "BigCommerce locale", &data.locale_mapping)) }
            section.card { (mapping_table("currency-mapping", "Currency mapping", "UnoPim currency", "BigCommerce currency", &data.currency_mapping)) }
        }
    };
    layout(&data.label, live.is_some(), body).into_string()
}

/// The page of a stored row that cannot be read (`problem` names the column, never a value).
pub fn unreadable_page(id: i64, problem: &str) -> String {
    layout(
        "Cannot be read",
        false,
        html! {
            nav.crumbs { a href="/" { "← Credentials" } }
            h1 { "Credential " (id) " cannot be read" }
            p id="problem" { "Its " (problem) "; the other credentials are not affected." }
        },
    )
    .into_string()
}

/// The page for an id that is not stored.
pub fn not_found_page(id: &str) -> String {
    layout(
        "Not found",
        false,
        html! {
            nav.crumbs { a href="/" { "← Credentials" } }
            h1 { "No such credential" }
            p { "No credential with id " code { (id) } " is stored." }
        },
    )
    .into_string()
}
