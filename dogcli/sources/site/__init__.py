"""Discovery on the camera page in headless Chromium: scripts (in-page JavaScript), reaper
(/proc, pidfile, prctl), browser (Chromium's lifecycle), page and picker (the page protocol),
executables (where Chromium and chromedriver are). Importing this package imports no Selenium."""
