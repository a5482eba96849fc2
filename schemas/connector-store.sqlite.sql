-- The connector store on Sqlite, as bccreds' migrations create it (generated; do not edit).

-- migration 1
CREATE TABLE IF NOT EXISTS "wk_bigcommerce_credentials" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT,
    "label" VARCHAR(255) NOT NULL,
    "apiUrl" VARCHAR(500) NOT NULL,
    "clientId" VARCHAR(255) NULL,
    "clientSecret" TEXT NULL,
    "accessToken" TEXT NOT NULL,
    "status" BOOLEAN NOT NULL DEFAULT 1,
    "defaultLocale" VARCHAR(32) NULL,
    "defaultCurrency" VARCHAR(3) NULL,
    "localeMapping" TEXT NULL,
    "currencyMapping" TEXT NULL,
    "storeInfo" TEXT NULL,
    "created_at" DATETIME NULL,
    "updated_at" DATETIME NULL,
    CONSTRAINT "wk_bigcommerce_credentials_label_unique" UNIQUE ("label")
);
CREATE TABLE IF NOT EXISTS "bccreds_ownership" (
    credential_id BIGINT NOT NULL PRIMARY KEY,
    owner_id VARCHAR(255) NOT NULL,
    source_key VARCHAR(320) NOT NULL,
    spec_sha256 CHAR(64) NOT NULL,
    secret_sha256 CHAR(64) NOT NULL,
    last_verified_at TEXT NULL,
    last_result VARCHAR(64) NULL,
    last_message TEXT NULL,
    CONSTRAINT "bccreds_ownership_source_unique" UNIQUE (owner_id, source_key)
);

-- migration 2
ALTER TABLE "bccreds_ownership" ADD COLUMN deletion_policy VARCHAR(16) NOT NULL DEFAULT 'Delete';

-- migration 3
CREATE INDEX "wk_bigcommerce_credentials_label_lower" ON "wk_bigcommerce_credentials" (LOWER("label"));

-- migration 4
CREATE UNIQUE INDEX "wk_bigcommerce_credentials_label_ci" ON "wk_bigcommerce_credentials" (LOWER("label"));
DROP INDEX IF EXISTS "wk_bigcommerce_credentials_label_lower";

-- migration 5
ALTER TABLE "bccreds_ownership" ADD COLUMN source_path TEXT NULL;

-- migration 6
CREATE TABLE IF NOT EXISTS "bccreds_settings" (name VARCHAR(64) NOT NULL PRIMARY KEY, value VARCHAR(255) NOT NULL);
