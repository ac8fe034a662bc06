# holdsense roller firmware (MicroPython). Entry point: holdsense_fw.app.main().
VERSION = "0.1.0"
