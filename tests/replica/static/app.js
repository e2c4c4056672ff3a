/*
 * DrayDog camera page replica: a small Vue 3 app on the real Element Plus components
 * (global builds served from /vendor, pinned in package-lock.json). Only the page logic is
 * ours; the widgets' DOM and behaviour (el-date-picker, el-image lazy loading, v-loading,
 * el-pagination, el-empty, ElMessage) are the library's own.
 * The sections are plain <section>s, not el-card: .el-card__body has overflow:auto, so a lazy
 * el-image inside it takes the card body as its scroll container and loads at once.
 */
(function () {
  "use strict";

  var cfg = window.__DRAYDOG_CONFIG__;
  var HOUR_MS = 3600 * 1000;

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  // a Date's calendar day in the BROWSER's zone (the picker's Dates are browser-local)
  function ymd(d) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); }

  var browserZone = cfg.pageZone === "browser";
  // "today" follows the site clock (it may be a test's fixed clock), read in the page's zone
  var today = browserZone ? ymd(new Date(Date.parse(cfg.now))) : cfg.today;
  var labelZone = browserZone ? undefined : cfg.timezone;
  var timeFmt = new Intl.DateTimeFormat("en-US", {
    timeZone: labelZone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
  });
  var hourFmt = new Intl.DateTimeFormat("en-US", {
    timeZone: labelZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short"
  });

  function historyQuery(day) {
    if (!browserZone) return "date=" + day;
    // the browser's own local day: wrong captures unless it runs in the terminal's zone
    var p = day.split("-").map(Number);
    var start = new Date(p[0], p[1] - 1, p[2]);
    var end = new Date(p[0], p[1] - 1, p[2] + 1);
    return "start=" + encodeURIComponent(start.toISOString()) +
      "&end=" + encodeURIComponent(end.toISOString());
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  var streamLabel = cfg.stream;
  cfg.streams.forEach(function (s) { if (s.name === cfg.stream) streamLabel = s.label; });
  document.title = cfg.terminalName + " " + streamLabel + " Camera | DrayDog";

  var template = [
    '<header class="app-header"><div class="app-header__inner">',
    '  <a class="app-logo" href="/">DrayDog</a>',
    '  <nav class="app-nav"><a href="/">Terminals</a><a class="is-active" href="#">Cameras</a></nav>',
    '</div></header>',
    '<main class="terminal-cameras">',
    '  <el-breadcrumb separator="/">',
    '    <el-breadcrumb-item>Terminals</el-breadcrumb-item>',
    '    <el-breadcrumb-item>{{ terminalName }}</el-breadcrumb-item>',
    '  </el-breadcrumb>',
    '  <h1 class="terminal-title">{{ terminalName }} <small>Gate Cameras</small></h1>',
    '  <nav class="stream-tabs">',
    '    <a v-for="s in streams" :key="s.name" :class="[\'stream-tab\', {\'is-active\': s.name === stream}]"',
    '       :href="\'/terminal_cameras/\' + terminal + \'?streamName=\' + s.name + \'#camera-history\'">{{ s.label }}</a>',
    '  </nav>',
    '  <section class="dd-card camera-live">',
    '    <div class="section-header"><h2>{{ streamLabel }}</h2>',
    '      <el-tag v-if="!noCamera" type="success" effect="light">LIVE</el-tag></div>',
    '    <el-empty v-if="noCamera" description="No camera found"></el-empty>',
    '    <div v-else class="live-grid">',
    '      <div v-for="img in live" :key="img.url" class="live-item">',
    '        <el-image :src="img.url" fit="cover"></el-image>',
    '        <span class="live-item__time">{{ img.label }}</span>',
    '      </div>',
    '    </div>',
    '  </section>',
    '  <section v-if="!noCamera" id="camera-history" class="dd-card camera-history">',
    '    <div class="section-header"><h2>{{ heading }}</h2>',
    '      <el-date-picker v-model="day" type="date" placeholder="Pick a day" value-format="YYYY-MM-DD"',
    '        :disabled-date="disabledDate" :clearable="false"></el-date-picker>',
    '    </div>',
    '    <div class="history-body" v-loading="loadingMask && loading">',
    '      <div :class="[\'history-gallery\', {\'is-scroll-box\': gallery === \'container-lazy\'}]">',
    '        <el-empty v-if="!loading && !images.length" :description="failed ? \'Failed to load images\' : \'No Data\'"></el-empty>',
    '        <div v-for="block in blocks" :key="block.key" class="hour-block">',
    '          <h3 class="hour-block__title">{{ block.label }}</h3>',
    '          <div class="history-grid">',
    '            <div v-for="img in block.images" :key="img.url" class="history-item">',
    '              <el-image :src="img.url" fit="cover" :lazy="lazy" :scroll-container="scrollContainer"></el-image>',
    '              <span class="history-item__time">{{ img.label }}</span>',
    '            </div>',
    '          </div>',
    '        </div>',
    '      </div>',
    '      <el-pagination v-if="pageSize && images.length" background layout="prev, pager, next"',
    '        :page-size="pageSize" :total="images.length" v-model:current-page="page"></el-pagination>',
    '    </div>',
    '    <p class="history-note">Times are local to the terminal.</p>',
    '  </section>',
    '</main>'
  ].join("\n");

  var app = Vue.createApp({
    template: template,
    setup: function () {
      var day = Vue.ref(today);
      var live = Vue.ref([]);
      var images = Vue.ref([]);  // the day's images, ordered as shown
      var loading = Vue.ref(false);
      var failed = Vue.ref(false);
      var noCamera = Vue.ref(false);
      var page = Vue.ref(1);
      var seq = 0;

      function label(img) {
        var ms = Date.parse(img.time);
        return { url: img.url, ms: ms, label: isNaN(ms) ? "" : timeFmt.format(new Date(ms)) };
      }

      // hour blocks newest first, oldest first within an hour (as on the real page)
      function order(list) {
        var byHour = {};
        list.forEach(function (img) {
          var key = Math.floor(img.ms / HOUR_MS);
          (byHour[key] = byHour[key] || []).push(img);
        });
        var keys = Object.keys(byHour).map(Number).sort(function (a, b) { return b - a; });
        var out = [];
        keys.forEach(function (k) {
          byHour[k].sort(function (a, b) { return a.ms - b.ms; });
          out = out.concat(byHour[k]);
        });
        return out;
      }

      var shown = Vue.computed(function () {
        if (!cfg.pageSize) return images.value;
        var from = (page.value - 1) * cfg.pageSize;
        return images.value.slice(from, from + cfg.pageSize);
      });

      var blocks = Vue.computed(function () {
        var out = [];
        shown.value.forEach(function (img) {
          var key = Math.floor(img.ms / HOUR_MS);
          var last = out[out.length - 1];
          if (!last || last.key !== key) {
            last = { key: key, label: hourFmt.format(new Date(key * HOUR_MS)), images: [] };
            out.push(last);
          }
          last.images.push(img);
        });
        return out;
      });

      function loadHistory(d) {
        var mine = ++seq;
        loading.value = true;
        getJSON(cfg.api + "/history?stream=" + encodeURIComponent(cfg.stream) + "&" + historyQuery(d))
          .then(function (data) {
            if (mine !== seq) return;  // a newer day selection wins
            if (data.camera === false) noCamera.value = true;
            images.value = order(data.images.map(label));
            failed.value = false;
            page.value = 1;
          })
          .catch(function () {
            if (mine !== seq) return;
            images.value = [];
            failed.value = true;
            ElementPlus.ElMessage({ type: "error", message: "Failed to load camera history", duration: 3000 });
          })
          .finally(function () { if (mine === seq) loading.value = false; });
      }

      Vue.watch(day, function (d) { if (d) loadHistory(d); });

      Vue.onMounted(function () {
        getJSON(cfg.api + "/latest?stream=" + encodeURIComponent(cfg.stream) + "&limit=" + cfg.liveCount)
          .then(function (data) {
            if (data.camera === false) noCamera.value = true;
            live.value = data.images.map(label);
          })
          .catch(function () {
            ElementPlus.ElMessage({ type: "error", message: "Failed to load the live camera", duration: 3000 });
          });
        loadHistory(day.value);
      });

      return {
        terminal: cfg.terminal,
        terminalName: cfg.terminalName,
        stream: cfg.stream,
        streams: cfg.streams,
        streamLabel: streamLabel,
        heading: cfg.heading,
        gallery: cfg.gallery,
        lazy: cfg.gallery !== "eager",
        scrollContainer: cfg.gallery === "container-lazy" ? ".history-gallery" : undefined,
        pageSize: cfg.pageSize,
        loadingMask: cfg.loadingMask,
        disabledDate: function (d) { return ymd(d) > today; },
        day: day, live: live, images: images, blocks: blocks, loading: loading,
        failed: failed, noCamera: noCamera, page: page
      };
    }
  });
  app.use(ElementPlus);
  app.mount("#app");
})();
