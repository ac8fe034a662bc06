from holdsense_fw.app import main; main()
