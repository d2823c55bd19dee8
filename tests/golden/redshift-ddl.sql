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

CREATE TABLE python_conferences (
    subject VARCHAR(512) ENCODE zstd NOT NULL, 
    start_date DATE ENCODE raw NOT NULL, 
    end_date DATE ENCODE az64, 
    location VARCHAR(1024) ENCODE zstd, 
    country CHAR(3) ENCODE zstd, 
    venue VARCHAR(512) ENCODE zstd, 
    tutorial_deadline DATE ENCODE az64, 
    talk_deadline DATE ENCODE az64, 
    website_url VARCHAR(2048) ENCODE zstd, 
    proposal_url VARCHAR(2048) ENCODE zstd, 
    sponsorship_url VARCHAR(2048) ENCODE zstd, 
    year SMALLINT ENCODE az64, 
    source_path VARCHAR(256) ENCODE zstd, 
    line INTEGER ENCODE az64, 
    _feed VARCHAR(64) ENCODE zstd NOT NULL, 
    _batch_id VARCHAR(200) ENCODE zstd NOT NULL, 
    _interval_start TIMESTAMP WITHOUT TIME ZONE ENCODE raw NOT NULL, 
    _scraped_at TIMESTAMP WITHOUT TIME ZONE ENCODE az64 NOT NULL, 
    _loaded_at TIMESTAMP WITHOUT TIME ZONE DEFAULT SYSDATE ENCODE az64 NOT NULL
) DISTSTYLE KEY DISTKEY (subject) SORTKEY (_interval_start, start_date);

CREATE VIEW python_conferences_latest AS
SELECT subject, start_date, end_date, location, country, venue, tutorial_deadline, talk_deadline, website_url, proposal_url, sponsorship_url, year, source_path, line, _feed, _batch_id, _interval_start, _scraped_at, _loaded_at, occurrences
FROM (
    SELECT subject, start_date, end_date, location, country, venue, tutorial_deadline, talk_deadline, website_url, proposal_url, sponsorship_url, year, source_path, line, _feed, _batch_id, _interval_start, _scraped_at, _loaded_at,
           COUNT(*) OVER (
               PARTITION BY _feed, subject, start_date, _interval_start
           ) AS occurrences,
           ROW_NUMBER() OVER (
               PARTITION BY _feed, subject, start_date
               ORDER BY _interval_start DESC, source_path, line
           ) AS newest
    FROM public.python_conferences
) ranked
WHERE newest = 1
WITH NO SCHEMA BINDING;

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

COMMIT;

BEGIN;

-- Running upgrade 0004 -> 0005

CREATE TABLE pretalx_events (
    event VARCHAR(64) ENCODE raw NOT NULL, 
    name VARCHAR(800) ENCODE zstd, 
    name_i18n VARCHAR(16384) ENCODE zstd, 
    date_from DATE ENCODE az64, 
    date_to DATE ENCODE az64, 
    timezone VARCHAR(64) ENCODE zstd, 
    url VARCHAR(2048) ENCODE zstd, 
    _feed VARCHAR(64) ENCODE zstd NOT NULL, 
    _batch_id VARCHAR(200) ENCODE zstd NOT NULL, 
    _interval_start TIMESTAMP WITHOUT TIME ZONE ENCODE raw NOT NULL, 
    _scraped_at TIMESTAMP WITHOUT TIME ZONE ENCODE az64 NOT NULL, 
    _loaded_at TIMESTAMP WITHOUT TIME ZONE DEFAULT SYSDATE ENCODE az64 NOT NULL
) DISTSTYLE ALL SORTKEY (_interval_start, event);

CREATE TABLE pretalx_talks (
    event VARCHAR(64) ENCODE raw NOT NULL, 
    code VARCHAR(16) ENCODE zstd NOT NULL, 
    title VARCHAR(800) ENCODE zstd, 
    track VARCHAR(800) ENCODE zstd, 
    track_i18n VARCHAR(16384) ENCODE zstd, 
    submission_type VARCHAR(400) ENCODE zstd, 
    submission_type_i18n VARCHAR(16384) ENCODE zstd, 
    state VARCHAR(16) ENCODE zstd, 
    abstract VARCHAR(65535) ENCODE zstd, 
    description VARCHAR(65535) ENCODE zstd, 
    duration INTEGER ENCODE az64, 
    content_locale VARCHAR(32) ENCODE zstd, 
    do_not_record BOOLEAN ENCODE zstd, 
    is_featured BOOLEAN ENCODE zstd, 
    slot_start TIMESTAMP WITHOUT TIME ZONE ENCODE az64, 
    slot_end TIMESTAMP WITHOUT TIME ZONE ENCODE az64, 
    room VARCHAR(400) ENCODE zstd, 
    room_i18n VARCHAR(16384) ENCODE zstd, 
    _feed VARCHAR(64) ENCODE zstd NOT NULL, 
    _batch_id VARCHAR(200) ENCODE zstd NOT NULL, 
    _interval_start TIMESTAMP WITHOUT TIME ZONE ENCODE raw NOT NULL, 
    _scraped_at TIMESTAMP WITHOUT TIME ZONE ENCODE az64 NOT NULL, 
    _loaded_at TIMESTAMP WITHOUT TIME ZONE DEFAULT SYSDATE ENCODE az64 NOT NULL
) DISTSTYLE KEY DISTKEY (code) SORTKEY (_interval_start, event);

CREATE TABLE pretalx_speakers (
    event VARCHAR(64) ENCODE raw NOT NULL, 
    code VARCHAR(16) ENCODE zstd NOT NULL, 
    name VARCHAR(512) ENCODE zstd, 
    biography VARCHAR(65535) ENCODE zstd, 
    _feed VARCHAR(64) ENCODE zstd NOT NULL, 
    _batch_id VARCHAR(200) ENCODE zstd NOT NULL, 
    _interval_start TIMESTAMP WITHOUT TIME ZONE ENCODE raw NOT NULL, 
    _scraped_at TIMESTAMP WITHOUT TIME ZONE ENCODE az64 NOT NULL, 
    _loaded_at TIMESTAMP WITHOUT TIME ZONE DEFAULT SYSDATE ENCODE az64 NOT NULL
) DISTSTYLE KEY DISTKEY (code) SORTKEY (_interval_start, event);

CREATE TABLE pretalx_talk_speakers (
    event VARCHAR(64) ENCODE raw NOT NULL, 
    talk_code VARCHAR(16) ENCODE zstd NOT NULL, 
    speaker_code VARCHAR(16) ENCODE zstd NOT NULL, 
    position SMALLINT ENCODE az64 NOT NULL, 
    _feed VARCHAR(64) ENCODE zstd NOT NULL, 
    _batch_id VARCHAR(200) ENCODE zstd NOT NULL, 
    _interval_start TIMESTAMP WITHOUT TIME ZONE ENCODE raw NOT NULL, 
    _scraped_at TIMESTAMP WITHOUT TIME ZONE ENCODE az64 NOT NULL, 
    _loaded_at TIMESTAMP WITHOUT TIME ZONE DEFAULT SYSDATE ENCODE az64 NOT NULL
) DISTSTYLE KEY DISTKEY (talk_code) SORTKEY (_interval_start, event);

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

COMMIT;

BEGIN;

-- Running upgrade 0005 -> 0006

CREATE TABLE homepage_events (
    page_url VARCHAR(2048) ENCODE zstd NOT NULL, 
    event_index SMALLINT ENCODE az64 NOT NULL, 
    url VARCHAR(2048) ENCODE zstd NOT NULL, 
    event_type VARCHAR(64) ENCODE zstd NOT NULL, 
    name VARCHAR(512) ENCODE zstd, 
    start_date DATE ENCODE raw, 
    end_date DATE ENCODE az64, 
    event_status VARCHAR(64) ENCODE zstd, 
    event_attendance_mode VARCHAR(64) ENCODE zstd, 
    location_name VARCHAR(512) ENCODE zstd, 
    location_address VARCHAR(1024) ENCODE zstd, 
    location_locality VARCHAR(256) ENCODE zstd, 
    location_country VARCHAR(128) ENCODE zstd, 
    virtual_location_url VARCHAR(2048) ENCODE zstd, 
    participation_offer_url VARCHAR(2048) ENCODE zstd, 
    participation_offer_name VARCHAR(512) ENCODE zstd, 
    sponsorship_offer_url VARCHAR(2048) ENCODE zstd, 
    sponsorship_offer_name VARCHAR(512) ENCODE zstd, 
    organizer_name VARCHAR(512) ENCODE zstd, 
    organizer_url VARCHAR(2048) ENCODE zstd, 
    sponsors VARCHAR(8192) ENCODE zstd, 
    jsonld VARCHAR(65535) ENCODE zstd NOT NULL, 
    _feed VARCHAR(64) ENCODE zstd NOT NULL, 
    _batch_id VARCHAR(200) ENCODE zstd NOT NULL, 
    _interval_start TIMESTAMP WITHOUT TIME ZONE ENCODE raw NOT NULL, 
    _scraped_at TIMESTAMP WITHOUT TIME ZONE ENCODE az64 NOT NULL, 
    _loaded_at TIMESTAMP WITHOUT TIME ZONE DEFAULT SYSDATE ENCODE az64 NOT NULL
) DISTSTYLE KEY DISTKEY (page_url) SORTKEY (_interval_start, start_date);

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005';

COMMIT;

BEGIN;

-- Running upgrade 0006 -> 0007

CREATE TABLE conference (
    conference_id INTEGER ENCODE az64 NOT NULL, 
    name VARCHAR(1024) ENCODE zstd, 
    norm_name VARCHAR(1024) ENCODE zstd, 
    year SMALLINT ENCODE az64, 
    start_date DATE ENCODE raw, 
    end_date DATE ENCODE az64, 
    city VARCHAR(1024) ENCODE zstd, 
    country VARCHAR(1024) ENCODE zstd, 
    url VARCHAR(2048) ENCODE zstd, 
    url_host VARCHAR(253) ENCODE zstd, 
    cfp_url VARCHAR(2048) ENCODE zstd, 
    cfp_end_date DATE ENCODE az64, 
    sponsorship_url VARCHAR(2048) ENCODE zstd, 
    sources VARCHAR(128) ENCODE zstd NOT NULL, 
    source_count SMALLINT ENCODE az64 NOT NULL, 
    member_count SMALLINT ENCODE az64 NOT NULL, 
    updated_at TIMESTAMP WITHOUT TIME ZONE ENCODE az64 NOT NULL, 
    CONSTRAINT pk_conference PRIMARY KEY (conference_id)
) DISTSTYLE ALL SORTKEY (start_date);

CREATE TABLE conference_members (
    source VARCHAR(32) ENCODE zstd NOT NULL, 
    source_key VARCHAR(2112) ENCODE zstd NOT NULL, 
    feed VARCHAR(64) ENCODE zstd NOT NULL, 
    ref VARCHAR(2048) ENCODE zstd, 
    conference_id INTEGER ENCODE raw NOT NULL, 
    name VARCHAR(1024) ENCODE zstd, 
    norm_name VARCHAR(1024) ENCODE zstd, 
    start_date DATE ENCODE az64, 
    end_date DATE ENCODE az64, 
    url_host VARCHAR(253) ENCODE zstd, 
    updated_at TIMESTAMP WITHOUT TIME ZONE ENCODE az64 NOT NULL, 
    CONSTRAINT pk_conference_members PRIMARY KEY (source, source_key)
) DISTSTYLE ALL SORTKEY (conference_id);

CREATE VIEW upcoming_open_cfps AS
SELECT conference_id, name, start_date, end_date, city, country, url, cfp_url, cfp_end_date,
       sources
FROM public.conference
WHERE start_date >= CURRENT_DATE AND cfp_end_date >= CURRENT_DATE
WITH NO SCHEMA BINDING;

CREATE VIEW conference_talks AS
WITH latest AS (
    SELECT _feed, MAX(_interval_start) AS _interval_start
    FROM public.pretalx_talks
    GROUP BY _feed
)
SELECT c.conference_id, c.name AS conference, c.start_date, m.ref AS event,
       t.code AS talk_code, t.title, t.track, t.submission_type, t.state, t.duration,
       t.slot_start, t.slot_end, t.room,
       b.position AS speaker_position, b.speaker_code, s.name AS speaker_name
FROM public.conference c
JOIN public.conference_members m ON m.conference_id = c.conference_id AND m.source = 'pretalx'
JOIN latest l ON l._feed = m.feed
JOIN public.pretalx_talks t
  ON t._feed = m.feed AND t.event = m.ref AND t._interval_start = l._interval_start
LEFT JOIN public.pretalx_talk_speakers b
  ON b._feed = t._feed AND b._interval_start = t._interval_start AND b.talk_code = t.code
LEFT JOIN public.pretalx_speakers s
  ON s._feed = b._feed AND s._interval_start = b._interval_start
 AND s.code = b.speaker_code
WITH NO SCHEMA BINDING;

CREATE VIEW conferences_per_country_month AS
SELECT COALESCE(country, '(unknown)') AS country,
       CAST(DATE_TRUNC('month', start_date) AS DATE) AS month,
       COUNT(*) AS conferences,
       SUM(CASE WHEN source_count > 1 THEN 1 ELSE 0 END) AS seen_by_several_sources
FROM public.conference
WHERE start_date IS NOT NULL
GROUP BY 1, 2
WITH NO SCHEMA BINDING;

CREATE VIEW cfp_changes AS
WITH snapshots AS (
    SELECT DISTINCT 'confs-tech' AS source,
           url || '|' || CAST(start_date AS VARCHAR(10)) AS source_key,
           name, _interval_start, cfp_end_date
    FROM public.conferences
    UNION ALL
    SELECT DISTINCT 'python-organizers',
           subject || '|' || CAST(start_date AS VARCHAR(10)),
           subject, _interval_start, talk_deadline
    FROM public.python_conferences
), ordered AS (
    SELECT s.*,
           LAG(cfp_end_date) OVER (
               PARTITION BY source, source_key ORDER BY _interval_start
           ) AS previous_cfp_end_date,
           LAG(_interval_start) OVER (
               PARTITION BY source, source_key ORDER BY _interval_start
           ) AS previous_snapshot
    FROM snapshots s
)
SELECT m.conference_id, o.source, o.source_key, o.name,
       o.previous_snapshot, o._interval_start AS snapshot,
       o.previous_cfp_end_date, o.cfp_end_date
FROM ordered o
LEFT JOIN public.conference_members m ON m.source = o.source AND m.source_key = o.source_key
WHERE o.previous_snapshot IS NOT NULL
  AND COALESCE(o.cfp_end_date, DATE '1900-01-01')
      <> COALESCE(o.previous_cfp_end_date, DATE '1900-01-01')
WITH NO SCHEMA BINDING;

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0006';

COMMIT;

