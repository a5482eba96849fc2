//! The SQL differences between SQLite, MySQL/MariaDB and PostgreSQL, in one place.

/// Which SQL engine a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded default.
    Sqlite,
    /// MySQL and MariaDB.
    MySql,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// A quoted identifier; UnoPim's columns are camelCase, which PostgreSQL folds unless quoted.
    pub fn ident(self, name: &str) -> String {
        match self {
            Dialect::MySql => format!("`{name}`"),
            Dialect::Sqlite | Dialect::Postgres => format!("\"{name}\""),
        }
    }

    /// The placeholder for the `n`th (1-based) bound value.
    pub fn param(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Sqlite | Dialect::MySql => "?".to_string(),
        }
    }

    /// `n` placeholders starting at `from`, comma-separated.
    pub fn params(self, from: usize, n: usize) -> String {
        (from..from + n)
            .map(|i| self.param(i))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Column type of an auto-incrementing 64-bit primary key.
    pub fn id_column(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::MySql => "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        }
    }

    /// Boolean column type, as Laravel's schema builder makes it.
    pub fn bool_type(self) -> &'static str {
        match self {
            Dialect::MySql => "TINYINT(1)",
            Dialect::Sqlite | Dialect::Postgres => "BOOLEAN",
        }
    }

    /// JSON column type, as Laravel's schema builder makes it.
    pub fn json_type(self) -> &'static str {
        match self {
            Dialect::Sqlite => "TEXT",
            Dialect::MySql | Dialect::Postgres => "JSON",
        }
    }

    /// Timestamp column type (UTC, second precision, like Laravel's `timestamps()`).
    ///
    /// MySQL gets DATETIME rather than Laravel's TIMESTAMP: TIMESTAMP is shifted by the
    /// session time zone, DATETIME stores the UTC value bccreds writes as it is.
    pub fn timestamp_type(self) -> &'static str {
        match self {
            Dialect::Sqlite => "TEXT",
            Dialect::MySql => "DATETIME",
            Dialect::Postgres => "TIMESTAMP(0) WITHOUT TIME ZONE",
        }
    }

    /// The literal `true` in a column default.
    pub fn true_literal(self) -> &'static str {
        match self {
            Dialect::Postgres => "TRUE",
            Dialect::Sqlite | Dialect::MySql => "1",
        }
    }

    /// Suffix of CREATE TABLE: MySQL needs InnoDB for transactions and utf8mb4 for any label.
    pub fn table_options(self) -> &'static str {
        match self {
            Dialect::MySql => " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
            Dialect::Sqlite | Dialect::Postgres => "",
        }
    }

    /// A condition matching `column` against `param` ignoring case, in a form the engine can
    /// answer from an index: MySQL's default collation already ignores case, the others use
    /// the `LOWER(label)` index of migration 3.
    pub fn label_equals(self, column: &str, param: &str) -> String {
        match self {
            Dialect::MySql => format!("{column} = {param}"),
            Dialect::Sqlite | Dialect::Postgres => format!("LOWER({column}) = LOWER({param})"),
        }
    }

    /// Starts a write transaction. SQLite takes its write lock up front (IMMEDIATE), so that two
    /// writers queue on the busy timeout instead of one failing when it upgrades a read lock.
    pub fn begin_sql(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::MySql | Dialect::Postgres => "BEGIN",
        }
    }

    /// A query returning one row when `table` exists in the current database or schema.
    pub fn table_exists_sql(self) -> String {
        match self {
            Dialect::Sqlite => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?".into(),
            Dialect::MySql => "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?".into(),
            Dialect::Postgres => "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1".into(),
        }
    }
}

/// Escapes `%`, `_` and the escape character itself for `LIKE … ESCAPE '!'`.
pub fn like_pattern(needle: &str) -> String {
    let mut out = String::from("%");
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_quoting() {
        assert_eq!(Dialect::Postgres.params(2, 3), "$2, $3, $4");
        assert_eq!(Dialect::MySql.params(1, 2), "?, ?");
        assert_eq!(Dialect::Postgres.ident("apiUrl"), "\"apiUrl\"");
        assert_eq!(Dialect::MySql.ident("apiUrl"), "`apiUrl`");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("Prod"), "%prod%");
        assert_eq!(like_pattern("50%_off!"), "%50!%!_off!!%");
    }
}
