//! No import cycle between top-level modules: each `src/X.rs` or `src/X/` may name other
//! top-level modules (`crate::Y`, `use crate::{Y, Z}`, `super::Y` from the top), but never one
//! that leads back to it. A cycle means neither side can be understood, tested or moved alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module → the modules it names → one file where it does.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// The code of a Rust file with comments, string and character literals blanked out, so that
/// a `crate::x` in a doc comment or a message is not taken for a dependency.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && matches!(next, Some('"') | Some('#')) && !ident_before(&chars, i) {
            // A raw string: r"…", r#"…"#, with as many hashes closing as opening.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal: '\n', '\'', '\u{1b}'; the escaped character may be
            // the quote itself.
            i += 3;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            // Anything else, lifetimes included, is code.
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// Identifiers, `::` and single punctuation characters; whitespace dropped.
fn tokens(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = code.trim_start();
    while let Some(c) = rest.chars().next() {
        let len = if c.is_alphanumeric() || c == '_' {
            rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len())
        } else if rest.starts_with("::") {
            2
        } else {
            c.len_utf8()
        };
        out.push(&rest[..len]);
        rest = rest[len..].trim_start();
    }
    out
}

fn is_ident(token: &str) -> bool {
    token.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// The top-level modules `code` names, seen from a file `depth` modules below the crate root
/// (`src/a.rs` and `src/a/mod.rs` are 1, `src/a/b.rs` is 2): `crate::x`, the heads of
/// `crate::{x, y::z}`, and `super::x` with enough `super`s to reach the root.
fn named_modules(code: &str, depth: usize) -> BTreeSet<String> {
    let t = tokens(code);
    let mut named = BTreeSet::new();
    let mut i = 0;
    while i < t.len() {
        let from_root = match t[i] {
            "crate" if t.get(i + 1) == Some(&"::") => {
                i += 2;
                true
            }
            "super" if t.get(i + 1) == Some(&"::") => {
                let mut ups = 0;
                while t.get(i) == Some(&"super") && t.get(i + 1) == Some(&"::") {
                    ups += 1;
                    i += 2;
                }
                ups >= depth
            }
            _ => {
                i += 1;
                continue;
            }
        };
        if !from_root {
            continue;
        }
        match t.get(i) {
            Some(&"{") => {
                let mut depth = 0;
                let mut expect_head = true;
                while let Some(&token) = t.get(i) {
                    match token {
                        "{" => {
                            depth += 1;
                            expect_head = depth == 1;
                        }
                        "}" => depth -= 1,
                        "," if depth == 1 => expect_head = true,
                        head if expect_head && is_ident(head) => {
                            if head != "self" {
                                named.insert(head.to_string());
                            }
                            expect_head = false;
                        }
                        _ => {}
                    }
                    i += 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            Some(&head) if is_ident(head) => {
                named.insert(head.to_string());
                i += 1;
            }
            _ => {}
        }
    }
    named
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The crate's top-level modules and what each names; `lib.rs` and `main.rs` are the root,
/// which names everything by definition.
fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let module_of = |path: &Path| -> Option<(String, usize)> {
        let rel = path.strip_prefix(src).ok()?;
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let top = parts[0].trim_end_matches(".rs").to_string();
        if parts.len() == 1 && (top == "lib" || top == "main") {
            return None;
        }
        let depth = parts.len() - usize::from(parts.last().is_some_and(|l| l == "mod.rs"));
        Some((top, depth))
    };
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_of(f))
        .map(|(m, _)| m)
        .collect();
    let mut graph = Graph::new();
    for file in &files {
        let Some((module, depth)) = module_of(file) else {
            continue;
        };
        let code = code_only(&std::fs::read_to_string(file).expect("a source file"));
        let edges = graph.entry(module.clone()).or_default();
        for named in named_modules(&code, depth) {
            if named != module && modules.contains(&named) {
                let shown = file
                    .strip_prefix(src.parent().unwrap_or(src))
                    .unwrap_or(file);
                edges
                    .entry(named)
                    .or_insert_with(|| shown.display().to_string());
            }
        }
    }
    graph
}

/// The strongly connected components with more than one module (Tarjan's algorithm).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        for next in w.graph.get(v).into_iter().flat_map(|e| e.keys()) {
            let next = next.as_str();
            if !w.index.contains_key(next) {
                visit(w, next);
                let low = w.low[v].min(w.low[next]);
                w.low.insert(v, low);
            } else if w.on_stack.contains(next) {
                let low = w.low[v].min(w.index[next]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(top) = w.stack.pop() {
                w.on_stack.remove(top);
                component.push(top.to_string());
                if top == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            visit(&mut walk, v);
        }
    }
    walk.found
}

/// One cycle through `component`, each step with a file that makes it:
/// `server → web (src/server/mod.rs) → server (src/web/mod.rs)`.
fn describe(graph: &Graph, component: &[String]) -> String {
    let inside: BTreeSet<&str> = component.iter().map(String::as_str).collect();
    let start = component[0].as_str();
    // Breadth-first from start back to start, within the component.
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut last = None;
    while let Some(v) = queue.pop_front() {
        for next in graph[v].keys().map(String::as_str) {
            if !inside.contains(next) {
                continue;
            }
            if next == start {
                last = Some(v);
                queue.clear();
                break;
            }
            if !came_from.contains_key(next) {
                came_from.insert(next, v);
                queue.push_back(next);
            }
        }
    }
    let mut back = Vec::new();
    let mut v = last.unwrap_or(start);
    while v != start {
        back.push(v);
        v = came_from[v];
    }
    let path: Vec<&str> = std::iter::once(start)
        .chain(back.into_iter().rev())
        .chain(std::iter::once(start))
        .collect();
    let mut text = start.to_string();
    for pair in path.windows(2) {
        text.push_str(&format!(" → {} ({})", pair[1], graph[pair[0]][pair[1]]));
    }
    text
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    // The test reads what it should: these edges exist today and are not cycles.
    assert!(graph["server"].contains_key("web"), "{graph:#?}");
    assert!(graph["daemon"].contains_key("server"), "{graph:#?}");
    let found = cycles(&graph);
    let described: Vec<String> = found.iter().map(|c| describe(&graph, c)).collect();
    assert!(
        found.is_empty(),
        "top-level modules import each other in a cycle: {}\n\
         move what both need into a module both may name",
        described.join("; ")
    );
}

#[test]
fn the_reader_sees_paths_and_groups_but_not_comments_or_strings() {
    let code = code_only(
        "use crate::{alpha, beta::{x, y}, gamma::Z};\n\
         use crate::delta;\n\
         // use crate::comment;\n\
         /* crate::block /* nested */ crate::block2 */\n\
         /// [`crate::doc`]\n\
         let s = \"crate::string\"; let r = r#\"crate::raw\"#; let c = '\"';\n\
         fn f<'a>(x: &'a str) -> crate :: epsilon::T { super::super::zeta::g() }\n\
         let q = mycrate::not_me;",
    );
    let named = named_modules(&code, 2);
    let expected: BTreeSet<String> = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
        .into_iter()
        .map(str::to_string)
        .collect();
    assert_eq!(named, expected, "{code}");
    // One `super::` from `src/a/b.rs` stays inside `a`.
    assert!(named_modules("super::sibling::f()", 2).is_empty());
    assert_eq!(
        named_modules("super::top::f()", 1),
        BTreeSet::from(["top".to_string()])
    );
}

#[test]
fn a_cycle_is_found_and_named_with_the_files_that_make_it() {
    let edge = |pairs: &[(&str, &str)]| -> Graph {
        let mut g = Graph::new();
        for (a, b) in pairs {
            g.entry(a.to_string())
                .or_default()
                .insert(b.to_string(), format!("src/{a}.rs"));
            g.entry(b.to_string()).or_default();
        }
        g
    };
    let acyclic = edge(&[("a", "b"), ("b", "c"), ("a", "c")]);
    assert!(cycles(&acyclic).is_empty());
    let cyclic = edge(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]);
    let found = cycles(&cyclic);
    assert_eq!(found, vec![vec!["a", "b", "c"]]);
    assert_eq!(
        describe(&cyclic, &found[0]),
        "a → b (src/a.rs) → c (src/b.rs) → a (src/c.rs)"
    );
}
