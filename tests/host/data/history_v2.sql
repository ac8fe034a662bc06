-- A holdsense history database at schema v2, made by holdsense before sessions named a client
-- (commit 1577956: two `holdsense session --replay ... --save-history` runs of the bundled demo
-- recordings, quads and calves), kept as SQL text so the migration test builds a real v2 file from it.
PRAGMA application_id = 1215261796;  -- 0x486F6C64 "Hold"
PRAGMA user_version = 2;
BEGIN TRANSACTION;
CREATE TABLE holds (
    session_id    INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL,
    start_s       REAL NOT NULL,
    end_s         REAL NOT NULL,
    duration_s    REAL NOT NULL,
    mean_force_n  REAL,
    travel_cm     REAL,
    spot_cm       REAL,
    score         INTEGER,
    grade         TEXT,
    feedback_json TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (session_id, idx)
);
INSERT INTO "holds" VALUES(1,0,30.75,107.8,77.05,198.6,0.34,-5.4,98,'release window reached','["Held 77 s: past the 30 s release window.", "Light pressure (19 % of your body weight and 73 % of your rolling load): good.", "Stayed on the spot (roller moved 0.3 cm)."]');
INSERT INTO "holds" VALUES(1,1,119.05,133.2,14.15,150.6,0.3,-7.7,67,'too short for a release','["Held 14 s: be patient and stay at least 30 s (up to a few minutes) so the tissue has time to release.", "Light pressure (14 % of your body weight and 54 % of your rolling load): good.", "Stayed on the spot (roller moved 0.3 cm)."]');
INSERT INTO "holds" VALUES(1,2,150.65,188.35,37.7,517.1,0.36,-2.1,50,'too hard: ease off','["Held 38 s: past the 30 s release window.", "Too hard: you held at 49 % of your body weight and 161 % of your rolling load. Take weight off with your hands or the other leg; light, sustained pressure releases fascia better than force.", "Stayed on the spot (roller moved 0.4 cm).", "Very heavy pressure on one spot (1.6x your rolling load): ease off. Stop if you feel sharp or radiating pain, numbness or tingling, and ask a practitioner about safe pressure."]');
INSERT INTO "holds" VALUES(1,3,242.2,331.35,89.15,170.7,0.36,-7.5,100,'release window reached','["Held 89 s: past the 30 s release window.", "Light pressure (16 % of your body weight and 55 % of your rolling load): good.", "Stayed on the spot (roller moved 0.4 cm)."]');
INSERT INTO "holds" VALUES(1,4,348.25,378.6,30.35,148.7,0.3,-11.9,93,'release window reached','["Held 30 s: past the 30 s release window.", "Light pressure (14 % of your body weight and 48 % of your rolling load): good.", "Stayed on the spot (roller moved 0.3 cm)."]');
INSERT INTO "holds" VALUES(2,0,29.45,74.75,45.3,153.6,NULL,NULL,94,'release window reached','["Held 45 s: past the 30 s release window.", "Light pressure (18 % of your body weight and 60 % of your rolling load): good."]');
INSERT INTO "holds" VALUES(2,1,90.95,109.25,18.3,100.7,NULL,NULL,68,'too short for a release','["Held 18 s: be patient and stay at least 30 s (up to a few minutes) so the tissue has time to release.", "Light pressure (12 % of your body weight and 37 % of your rolling load): good."]');
INSERT INTO "holds" VALUES(2,2,136.2,232.4,96.2,177.5,NULL,NULL,100,'release window reached','["Held 96 s: past the 30 s release window.", "Light pressure (21 % of your body weight and 63 % of your rolling load): good."]');
INSERT INTO "holds" VALUES(2,3,268.9,310.5,41.6,178.0,NULL,NULL,93,'release window reached','["Held 42 s: past the 30 s release window.", "Light pressure (21 % of your body weight and 64 % of your rolling load): good."]');
INSERT INTO "holds" VALUES(2,4,337.7,403.75,66.05,149.9,NULL,NULL,97,'release window reached','["Held 66 s: past the 30 s release window.", "Light pressure (18 % of your body weight and 53 % of your rolling load): good."]');
CREATE TABLE sessions (
    id               INTEGER PRIMARY KEY,
    started_utc      TEXT NOT NULL,
    stored_utc       TEXT NOT NULL,
    source           TEXT NOT NULL DEFAULT 'session',
    recording_path   TEXT,
    recording_sha256 TEXT,
    region           TEXT,
    duration_s       REAL,
    hold_s           REAL,
    roll_s           REAL,
    off_s            REAL,
    holds            INTEGER,
    holds_over_30s   INTEGER,
    session_score    INTEGER,
    analysis_json    TEXT NOT NULL
);
INSERT INTO "sessions" VALUES(1,'2026-01-01T00:00:00Z','2026-12-06T06:06:51Z','replay','/tmp/hs-v2fixture/quads-session.csv','12e48e0d39d528989f71241a301b5ccf467187eaab1f89e1e4bf97d318725807','quads',396.86,248.4,125.35,23.11,5,4,87,'{"format":"holdsense-analysis/1","source":"/tmp/hs-v2fixture/quads-session.csv","segments":[{"kind":"off","start_s":0.0,"end_s":3.35},{"kind":"roll","start_s":3.35,"end_s":30.75},{"kind":"hold","start_s":30.75,"end_s":107.8},{"kind":"roll","start_s":107.8,"end_s":119.05},{"kind":"hold","start_s":119.05,"end_s":133.2},{"kind":"roll","start_s":133.2,"end_s":150.65},{"kind":"hold","start_s":150.65,"end_s":188.35},{"kind":"off","start_s":188.35,"end_s":203.25},{"kind":"roll","start_s":203.25,"end_s":242.2},{"kind":"hold","start_s":242.2,"end_s":331.35},{"kind":"roll","start_s":331.35,"end_s":348.25},{"kind":"hold","start_s":348.25,"end_s":378.6},{"kind":"roll","start_s":378.6,"end_s":392.0},{"kind":"off","start_s":392.0,"end_s":396.855}],"holds":[{"start_s":30.75,"end_s":107.8,"duration_s":77.05,"mean_force_n":198.6,"force_cv":0.019,"travel_cm":0.34,"spot_cm":-5.4,"score":98,"grade":"release window reached","pressure":"light","feedback":["Held 77 s: past the 30 s release window.","Light pressure (19 % of your body weight and 73 % of your rolling load): good.","Stayed on the spot (roller moved 0.3 cm)."],"confidence":0.998},{"start_s":119.05,"end_s":133.2,"duration_s":14.15,"mean_force_n":150.6,"force_cv":0.021,"travel_cm":0.3,"spot_cm":-7.7,"score":67,"grade":"too short for a release","pressure":"light","feedback":["Held 14 s: be patient and stay at least 30 s (up to a few minutes) so the tissue has time to release.","Light pressure (14 % of your body weight and 54 % of your rolling load): good.","Stayed on the spot (roller moved 0.3 cm)."],"confidence":0.954},{"start_s":150.65,"end_s":188.35,"duration_s":37.7,"mean_force_n":517.1,"force_cv":0.034,"travel_cm":0.36,"spot_cm":-2.1,"score":50,"grade":"too hard: ease off","pressure":"too hard","feedback":["Held 38 s: past the 30 s release window.","Too hard: you held at 49 % of your body weight and 161 % of your rolling load. Take weight off with your hands or the other leg; light, sustained pressure releases fascia better than force.","Stayed on the spot (roller moved 0.4 cm).","Very heavy pressure on one spot (1.6x your rolling load): ease off. Stop if you feel sharp or radiating pain, numbness or tingling, and ask a practitioner about safe pressure."],"confidence":0.993},{"start_s":242.2,"end_s":331.35,"duration_s":89.15,"mean_force_n":170.7,"force_cv":0.033,"travel_cm":0.36,"spot_cm":-7.5,"score":100,"grade":"release window reached","pressure":"light","feedback":["Held 89 s: past the 30 s release window.","Light pressure (16 % of your body weight and 55 % of your rolling load): good.","Stayed on the spot (roller moved 0.4 cm)."],"confidence":0.999},{"start_s":348.25,"end_s":378.6,"duration_s":30.35,"mean_force_n":148.7,"force_cv":0.023,"travel_cm":0.3,"spot_cm":-11.9,"score":93,"grade":"release window reached","pressure":"light","feedback":["Held 30 s: past the 30 s release window.","Light pressure (14 % of your body weight and 48 % of your rolling load): good.","Stayed on the spot (roller moved 0.3 cm)."],"confidence":0.989}],"summary":{"duration_s":396.86,"hold_s":248.4,"roll_s":125.35,"off_s":23.11,"lost_s":0.0,"holds":5,"holds_over_30s":4,"session_score":87,"advice":["1 of 5 holds ended before 30 s: be patient, a release can take 30 seconds to a few minutes.","1 hold(s) were too hard: use light, sustained pressure, well below your rolling load.","You held the spot at about -7 cm along the roll path 3 times.","Test the area by moving it before and after: less pain and more ease or range of motion mean the release worked."]},"quality":{"sample_rate_hz":90.6,"gaps":0,"saturated_samples":0,"warnings":[]},"scored_with":{"body_mass_kg":108.6,"profile":null}}');
INSERT INTO "sessions" VALUES(2,'2026-01-01T00:00:00Z','2026-12-06T06:06:56Z','replay','/tmp/hs-v2fixture/calves-session.csv','d576b49bef196da5ce4aea95c7f22b7963cd6956b70f7f1cffee1e08e34adf3a','calves',418.83,267.45,129.05,22.33,5,4,93,'{"format":"holdsense-analysis/1","source":"/tmp/hs-v2fixture/calves-session.csv","segments":[{"kind":"off","start_s":0.0,"end_s":4.2},{"kind":"roll","start_s":4.2,"end_s":29.45},{"kind":"hold","start_s":29.45,"end_s":74.75},{"kind":"roll","start_s":74.75,"end_s":90.95},{"kind":"hold","start_s":90.95,"end_s":109.25},{"kind":"roll","start_s":109.25,"end_s":136.2},{"kind":"hold","start_s":136.2,"end_s":232.4},{"kind":"off","start_s":232.4,"end_s":242.95},{"kind":"roll","start_s":242.95,"end_s":268.9},{"kind":"hold","start_s":268.9,"end_s":310.5},{"kind":"roll","start_s":310.5,"end_s":337.7},{"kind":"hold","start_s":337.7,"end_s":403.75},{"kind":"roll","start_s":403.75,"end_s":411.25},{"kind":"off","start_s":411.25,"end_s":418.833}],"holds":[{"start_s":29.45,"end_s":74.75,"duration_s":45.3,"mean_force_n":153.6,"force_cv":0.031,"travel_cm":null,"spot_cm":null,"score":94,"grade":"release window reached","pressure":"light","feedback":["Held 45 s: past the 30 s release window.","Light pressure (18 % of your body weight and 60 % of your rolling load): good."],"confidence":0.996},{"start_s":90.95,"end_s":109.25,"duration_s":18.3,"mean_force_n":100.7,"force_cv":0.037,"travel_cm":null,"spot_cm":null,"score":68,"grade":"too short for a release","pressure":"light","feedback":["Held 18 s: be patient and stay at least 30 s (up to a few minutes) so the tissue has time to release.","Light pressure (12 % of your body weight and 37 % of your rolling load): good."],"confidence":0.92},{"start_s":136.2,"end_s":232.4,"duration_s":96.2,"mean_force_n":177.5,"force_cv":0.016,"travel_cm":null,"spot_cm":null,"score":100,"grade":"release window reached","pressure":"light","feedback":["Held 96 s: past the 30 s release window.","Light pressure (21 % of your body weight and 63 % of your rolling load): good."],"confidence":0.999},{"start_s":268.9,"end_s":310.5,"duration_s":41.6,"mean_force_n":178.0,"force_cv":0.04,"travel_cm":null,"spot_cm":null,"score":93,"grade":"release window reached","pressure":"light","feedback":["Held 42 s: past the 30 s release window.","Light pressure (21 % of your body weight and 64 % of your rolling load): good."],"confidence":0.947},{"start_s":337.7,"end_s":403.75,"duration_s":66.05,"mean_force_n":149.9,"force_cv":0.019,"travel_cm":null,"spot_cm":null,"score":97,"grade":"release window reached","pressure":"light","feedback":["Held 66 s: past the 30 s release window.","Light pressure (18 % of your body weight and 53 % of your rolling load): good."],"confidence":0.999}],"summary":{"duration_s":418.83,"hold_s":267.45,"roll_s":129.05,"off_s":22.33,"lost_s":0.0,"holds":5,"holds_over_30s":4,"session_score":93,"advice":["1 of 5 holds ended before 30 s: be patient, a release can take 30 seconds to a few minutes.","Test the area by moving it before and after: less pain and more ease or range of motion mean the release worked."]},"quality":{"sample_rate_hz":88.4,"gaps":0,"saturated_samples":0,"warnings":["3 spurious ADC reading(s) removed"]},"scored_with":{"body_mass_kg":86.7,"profile":null}}');
CREATE TABLE tests (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    phase      TEXT NOT NULL CHECK (phase IN ('before', 'after')),
    movement   TEXT,
    pain_0_10  INTEGER CHECK (pain_0_10 BETWEEN 0 AND 10),
    rom_deg    REAL,
    rom_text   TEXT,
    ease_0_10  INTEGER CHECK (ease_0_10 BETWEEN 0 AND 10),
    PRIMARY KEY (session_id, phase)
);
INSERT INTO "tests" VALUES(1,'before','standing quad stretch: pull the heel toward the buttock',5,40.0,NULL,4);
INSERT INTO "tests" VALUES(1,'after','standing quad stretch: pull the heel toward the buttock',3,52.0,NULL,7);
INSERT INTO "tests" VALUES(2,'before','knee-to-wall lunge: knee to the wall with the heel down',6,NULL,'toe 4 cm from wall',3);
INSERT INTO "tests" VALUES(2,'after','knee-to-wall lunge: knee to the wall with the heel down',4,NULL,'toe 7 cm from wall',6);
CREATE INDEX sessions_region_time ON sessions(region, started_utc);
CREATE INDEX sessions_path ON sessions(recording_path);
CREATE INDEX sessions_sha ON sessions(recording_sha256);
COMMIT;
