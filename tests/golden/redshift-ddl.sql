BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE conferences (
    name VARCHAR(512) ENCODE zstd NOT NULL, 
    url VARCHAR(2048) ENCODE zstd NOT NULL, 
    start_date DATE ENCODE raw NOT NULL, 
    end_date DATE ENCODE az64, 
    city VARCHAR(256) ENCODE zstd, 
    country VARCHAR(128) ENCODE zstd, 
    online BOOLEAN ENCODE zstd, 
    locales VARCHAR(128) ENCODE zstd, 
    topic VARCHAR(64) ENCODE zstd, 
    year SMALLINT ENCODE az64, 
    source_path VARCHAR(256) ENCODE zstd, 
    cfp_url VARCHAR(2048) ENCODE zstd, 
    cfp_end_date VARCHAR(32) ENCODE zstd, 
    coc_url VARCHAR(2048) ENCODE zstd, 
    twitter VARCHAR(64) ENCODE zstd, 
    mastodon VARCHAR(320) ENCODE zstd, 
    offers_sign_language_or_cc BOOLEAN ENCODE zstd, 
    _feed VARCHAR(64) ENCODE zstd NOT NULL, 
    _batch_id VARCHAR(200) ENCODE zstd NOT NULL, 
    _interval_start TIMESTAMP WITHOUT TIME ZONE ENCODE raw NOT NULL, 
    _scraped_at TIMESTAMP WITHOUT TIME ZONE ENCODE az64 NOT NULL, 
    _loaded_at TIMESTAMP WITHOUT TIME ZONE DEFAULT SYSDATE ENCODE az64 NOT NULL
) DISTSTYLE KEY DISTKEY (url) SORTKEY (_interval_start, start_date);

CREATE TABLE redfeed_loads (
    load_id VARCHAR(64) ENCODE zstd NOT NULL, 
    feed VARCHAR(64) ENCODE raw NOT NULL, 
    interval_start TIMESTAMP WITHOUT TIME ZONE ENCODE raw NOT NULL, 
    interval_end TIMESTAMP WITHOUT TIME ZONE ENCODE az64, 
    run_id VARCHAR(200) ENCODE zstd NOT NULL, 
    table_name VARCHAR(127) ENCODE zstd NOT NULL, 
    status VARCHAR(16) ENCODE zstd NOT NULL, 
    manifest_url VARCHAR(2048) ENCODE zstd NOT NULL, 
    manifest_sha256 CHAR(64) ENCODE zstd NOT NULL, 
    content_digest CHAR(64) ENCODE zstd, 
    rows_in BIGINT ENCODE az64, 
    rows_loaded BIGINT ENCODE az64, 
    rows_rejected BIGINT ENCODE az64, 
    rows_replaced BIGINT ENCODE az64, 
    reject_url VARCHAR(2048) ENCODE zstd, 
    error VARCHAR(4096) ENCODE zstd, 
    started_at TIMESTAMP WITHOUT TIME ZONE ENCODE az64 NOT NULL, 
    finished_at TIMESTAMP WITHOUT TIME ZONE ENCODE az64, 
    loader_version VARCHAR(64) ENCODE zstd NOT NULL, 
    CONSTRAINT pk_redfeed_loads PRIMARY KEY (load_id)
) DISTSTYLE ALL SORTKEY (feed, interval_start);

INSERT INTO alembic_version (version_num) VALUES ('0001');

COMMIT;

BEGIN;

-- Running upgrade 0001 -> 0002

ALTER TABLE conferences ADD COLUMN cfp_end_date__new DATE ENCODE az64;

UPDATE conferences SET cfp_end_date__new = CAST(NULLIF(TRIM(cfp_end_date), '') AS DATE) WHERE cfp_end_date IS NOT NULL;

ALTER TABLE conferences DROP COLUMN cfp_end_date;

ALTER TABLE conferences RENAME COLUMN cfp_end_date__new TO cfp_end_date;

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

COMMIT;

BEGIN;

-- Running upgrade 0002 -> 0003

ALTER TABLE redfeed_loads ADD COLUMN batch_finished_at TIMESTAMP WITHOUT TIME ZONE ENCODE az64;

CREATE VIEW conferences_latest AS
WITH latest AS (
    SELECT _feed, url, start_date, MAX(_interval_start) AS _interval_start
    FROM public.conferences
    GROUP BY _feed, url, start_date
), snapshot AS (
    SELECT c.*, ROW_NUMBER() OVER (
        PARTITION BY c._feed, c.url, c.start_date ORDER BY c.topic, c.source_path
    ) AS occurrence
    FROM public.conferences c
    JOIN latest l
      ON c._feed = l._feed AND c.url = l.url AND c.start_date = l.start_date
     AND c._interval_start = l._interval_start
), topics AS (
    SELECT _feed, url, start_date, LISTAGG(DISTINCT topic, ',') WITHIN GROUP (ORDER BY topic) AS topics, COUNT(*) AS occurrences
    FROM snapshot
    GROUP BY _feed, url, start_date
)
SELECT s.name, s.url, s.start_date, s.end_date, s.city, s.country, s.online, s.locales, s.year, s.cfp_url, s.cfp_end_date, s.coc_url, s.twitter, s.mastodon, s.offers_sign_language_or_cc, s._feed, s._batch_id, s._interval_start, s._scraped_at, s._loaded_at, t.topics, t.occurrences
FROM snapshot s
JOIN topics t ON s._feed = t._feed AND s.url = t.url AND s.start_date = t.start_date
WHERE s.occurrence = 1
WITH NO SCHEMA BINDING;

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

COMMIT;

BEGIN;

-- Running upgrade 0003 -> 0004

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

COMMIT;

BEGIN;

-- Running upgrade 0004 -> 0005

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

COMMIT;

BEGIN;

-- Running upgrade 0005 -> 0006

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005';

COMMIT;

BEGIN;

-- Running upgrade 0006 -> 0007

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0006';

COMMIT;

