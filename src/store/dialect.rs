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
            // Laravel's `$table->id()`: a `foreignId()->constrained()` child table needs UNSIGNED.
            Dialect::MySql => "BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        }
    }

    /// The engine a store URL names (SQLite for anything else; `connect` refuses what it cannot
    /// open).
    pub fn of_url(url: &str) -> Dialect {
        if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            Dialect::MySql
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }

    /// The longest table or index name the engine keeps whole, if it has a limit.
    pub fn max_identifier(self) -> Option<usize> {
        match self {
            Dialect::MySql => Some(64),
            Dialect::Postgres => Some(63),
            Dialect::Sqlite => None,
        }
    }

    /// `expr` as text, whatever its column type (JSON, TIMESTAMP, DATETIME or TEXT), so that
    /// rows made by Laravel decode like rows made by bccreds.
    pub fn as_text(self, expr: &str) -> String {
        match self {
            Dialect::MySql => format!("CAST({expr} AS CHAR)"),
            Dialect::Sqlite | Dialect::Postgres => format!("CAST({expr} AS TEXT)"),
        }
    }

    /// Text `expr` as the list sorts it: lowercase, compared by bytes, whatever the column's type.
    /// On SQLite this is exactly the expression of the labels' unique index (migration 4), so
    /// that a page of labels in order is read from the index and not sorted; the others need the
    /// cast (a hand-altered binary column) and a byte collation.
    pub fn sort_text(self, expr: &str) -> String {
        match self {
            Dialect::Sqlite => format!("LOWER({expr})"),
            Dialect::MySql | Dialect::Postgres => {
                self.binary(&format!("LOWER({})", self.as_text(expr)))
            }
        }
    }

    /// Text `expr` compared by its bytes, as SQLite compares by default, rather than by the
    /// column's or database's collation (case- and accent-blind on MySQL, the locale's on
    /// PostgreSQL), so that every engine orders alike.
    pub fn binary(self, expr: &str) -> String {
        match self {
            Dialect::Sqlite => expr.to_string(),
            Dialect::MySql => format!("({expr}) COLLATE utf8mb4_bin"),
            Dialect::Postgres => format!("({expr}) COLLATE \"C\""),
        }
    }

    /// `expr` as a signed 64-bit integer: Laravel's `$table->id()` is BIGINT UNSIGNED on MySQL.
    pub fn as_bigint(self, expr: &str) -> String {
        match self {
            Dialect::MySql => format!("CAST({expr} AS SIGNED)"),
            Dialect::Sqlite => format!("CAST({expr} AS INTEGER)"),
            Dialect::Postgres => format!("CAST({expr} AS BIGINT)"),
        }
    }

    /// `expr`, a boolean column (BOOLEAN, TINYINT(1) or INTEGER), as a 64-bit integer, so that
    /// every engine's rows decode the same way.
    pub fn as_flag(self, expr: &str) -> String {
        match self {
            // PostgreSQL casts a boolean to INTEGER only.
            Dialect::Postgres => format!("CAST(CAST({expr} AS INTEGER) AS BIGINT)"),
            Dialect::MySql | Dialect::Sqlite => self.as_bigint(expr),
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

    /// The credential table's `created_at`/`updated_at`, as Laravel's `timestamps()` makes them.
    /// On MySQL this is TIMESTAMP, which shifts by the session time zone, so bccreds' sessions
    /// run in UTC.
    pub fn laravel_timestamp_type(self) -> &'static str {
        match self {
            Dialect::Sqlite => "DATETIME",
            Dialect::MySql => "TIMESTAMP NULL",
            Dialect::Postgres => "TIMESTAMP(0) WITHOUT TIME ZONE",
        }
    }

    /// Timestamp column type of bccreds' own tables (UTC, second precision).
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

    /// Inserts `(name, value)` into a two-column settings table; an existing `name` is
    /// overwritten when `replace`, else left as it is.
    pub fn put_setting_sql(self, table: &str, replace: bool) -> String {
        let table = self.ident(table);
        let values = self.params(1, 2);
        match (self, replace) {
            (Dialect::MySql, true) => format!(
                "INSERT INTO {table} (name, value) VALUES ({values}) ON DUPLICATE KEY UPDATE value = VALUES(value)"
            ),
            (Dialect::MySql, false) => {
                format!("INSERT IGNORE INTO {table} (name, value) VALUES ({values})")
            }
            (Dialect::Sqlite | Dialect::Postgres, true) => format!(
                "INSERT INTO {table} (name, value) VALUES ({values}) ON CONFLICT (name) DO UPDATE SET value = excluded.value"
            ),
            (Dialect::Sqlite | Dialect::Postgres, false) => format!(
                "INSERT INTO {table} (name, value) VALUES ({values}) ON CONFLICT (name) DO NOTHING"
            ),
        }
    }

    /// The suffix of a SELECT that locks the rows it reads until the transaction ends. SQLite
    /// needs none: a write transaction (`begin_sql`) already holds the whole database.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::MySql | Dialect::Postgres => " FOR UPDATE",
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
}
