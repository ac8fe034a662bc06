-- A holdsense history database at schema v1 (the first released layout), kept as SQL text so the
-- migration test builds a real v1 file from it. v1 stored the before/after answers as session
-- columns and each hold's feedback as newline-joined text.
PRAGMA application_id = 1215261796;  -- 0x486F6C64 "Hold"
PRAGMA user_version = 1;
CREATE TABLE sessions (
    id             INTEGER PRIMARY KEY,
    started_utc    TEXT NOT NULL,
    recording_path TEXT,
    region         TEXT,
    duration_s     REAL,
    hold_s         REAL,
    roll_s         REAL,
    holds          INTEGER,
    session_score  INTEGER,
    before_pain    INTEGER,
    before_rom     TEXT,
    before_ease    INTEGER,
    after_pain     INTEGER,
    after_rom      TEXT,
    after_ease     INTEGER
);
CREATE INDEX v1_sessions_region ON sessions(region);
CREATE TABLE holds (
    session_id   INTEGER NOT NULL REFERENCES sessions(id),
    idx          INTEGER NOT NULL,
    start_s      REAL NOT NULL,
    end_s        REAL NOT NULL,
    duration_s   REAL NOT NULL,
    mean_force_n REAL,
    score        INTEGER,
    grade        TEXT,
    feedback     TEXT,
    PRIMARY KEY (session_id, idx)
);
INSERT INTO sessions VALUES (1, '2026-11-02T18:05:00Z', '/home/ana/holdsense/recordings/s1.csv', 'quads',
    300.0, 95.0, 180.0, 2, 64, 5, '40 deg', 4, 3, '55 deg', 6);
INSERT INTO sessions VALUES (2, '2026-11-05T07:30:00Z', '/home/ana/holdsense/recordings/s2.csv', 'quads',
    420.0, 160.0, 230.0, 3, 78, 4, '45°', 5, 2, '60', 7);
INSERT INTO sessions VALUES (3, '2026-11-10T19:00:00Z', NULL, 'calves',
    240.0, 70.0, 150.0, 1, 55, 6, 'toe 4 cm from wall', NULL, 4, 'toe 7 cm from wall', NULL);
INSERT INTO holds VALUES (1, 0, 40.0, 75.0, 35.0, 140.0, 74, 'release window reached',
    'Held 35 s: past the 30 s release window.' || char(10) || 'Pressure light: good.');
INSERT INTO holds VALUES (1, 1, 120.0, 180.0, 60.0, 150.0, 81, 'release window reached', 'Held 60 s.');
INSERT INTO holds VALUES (2, 0, 30.0, 100.0, 70.0, 130.0, 88, 'release window reached', 'Held 70 s.');
INSERT INTO holds VALUES (2, 1, 150.0, 160.0, 10.0, 200.0, 35, 'too short', 'Held 10 s: stay 30 s.');
INSERT INTO holds VALUES (2, 2, 200.0, 280.0, 80.0, 128.0, 90, 'release window reached', '');
INSERT INTO holds VALUES (3, 0, 60.0, 130.0, 70.0, 90.0, 70, 'release window reached', 'Held 70 s.');
