/*
 * DrayDog camera page replica. Vanilla JavaScript that reproduces the DOM and the behaviour of
 * the Element Plus widgets the real (Vue) page uses: el-date-picker (popper teleported to
 * <body>), el-image with `lazy` inside a scrolling container, v-loading, el-empty, ElMessage.
 */
(function () {
  "use strict";

  var cfg = window.__DRAYDOG_CONFIG__;
  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];
  var WEEKS = ["Su", "Mo", "Tu", "We", "Th", "Fr", "Sa"];
  var ICON = {
    calendar: '<svg viewBox="0 0 1024 1024" xmlns="http://www.w3.org/2000/svg"><path fill="currentColor" d="M128 384v512h768V192H768v32a32 32 0 1 1-64 0v-32H320v32a32 32 0 0 1-64 0v-32H128v128h768v64zm192-256h384V96a32 32 0 1 1 64 0v32h160a32 32 0 0 1 32 32v768a32 32 0 0 1-32 32H96a32 32 0 0 1-32-32V160a32 32 0 0 1 32-32h160V96a32 32 0 0 1 64 0zm-32 384h64a32 32 0 0 1 0 64h-64a32 32 0 0 1 0-64m0 192h64a32 32 0 1 1 0 64h-64a32 32 0 1 1 0-64m192-192h64a32 32 0 0 1 0 64h-64a32 32 0 0 1 0-64m0 192h64a32 32 0 1 1 0 64h-64a32 32 0 1 1 0-64m192-192h64a32 32 0 1 1 0 64h-64a32 32 0 1 1 0-64m0 192h64a32 32 0 1 1 0 64h-64a32 32 0 1 1 0-64"></path></svg>',
    left: '<svg viewBox="0 0 1024 1024" xmlns="http://www.w3.org/2000/svg"><path fill="currentColor" d="M609.408 149.376 277.76 489.6a32 32 0 0 0 0 44.672l331.648 340.352a29.12 29.12 0 0 0 41.728 0 30.592 30.592 0 0 0 0-42.752L339.264 511.936l311.872-319.872a30.592 30.592 0 0 0 0-42.688 29.12 29.12 0 0 0-41.728 0z"></path></svg>',
    right: '<svg viewBox="0 0 1024 1024" xmlns="http://www.w3.org/2000/svg"><path fill="currentColor" d="M340.864 149.312a30.592 30.592 0 0 0 0 42.752L652.736 512 340.864 831.872a30.592 30.592 0 0 0 0 42.752 29.12 29.12 0 0 0 41.728 0L714.24 534.336a32 32 0 0 0 0-44.672L382.592 149.376a29.12 29.12 0 0 0-41.728 0z"></path></svg>',
    dleft: '<svg viewBox="0 0 1024 1024" xmlns="http://www.w3.org/2000/svg"><path fill="currentColor" d="M529.408 149.376a29.12 29.12 0 0 1 41.728 0 30.592 30.592 0 0 1 0 42.688L259.264 511.936l311.872 319.936a30.592 30.592 0 0 1-.512 43.264 29.12 29.12 0 0 1-41.216-.512L197.76 534.272a32 32 0 0 1 0-44.672zm256 0a29.12 29.12 0 0 1 41.728 0 30.592 30.592 0 0 1 0 42.688L515.264 511.936l311.872 319.936a30.592 30.592 0 0 1-.512 43.264 29.12 29.12 0 0 1-41.216-.512L453.76 534.272a32 32 0 0 1 0-44.672z"></path></svg>',
    dright: '<svg viewBox="0 0 1024 1024" xmlns="http://www.w3.org/2000/svg"><path fill="currentColor" d="M452.864 149.312a29.12 29.12 0 0 1 41.728.064L826.24 489.664a32 32 0 0 1 0 44.672L494.592 874.624a29.12 29.12 0 0 1-41.728 0 30.592 30.592 0 0 1 0-42.752L764.736 512 452.864 192a30.592 30.592 0 0 1 0-42.688m-256 0a29.12 29.12 0 0 1 41.728.064L570.24 489.664a32 32 0 0 1 0 44.672L238.592 874.624a29.12 29.12 0 0 1-41.728 0 30.592 30.592 0 0 1 0-42.752L508.736 512 196.864 192a30.592 30.592 0 0 1 0-42.688z"></path></svg>',
    camera: '<svg viewBox="0 0 1024 1024" xmlns="http://www.w3.org/2000/svg"><path fill="currentColor" d="M896 256H128v576h768zm-199.424-64-32.064-64h-304.96l-32 64zM96 192h160l46.336-92.608A64 64 0 0 1 359.552 64h304.96a64 64 0 0 1 57.216 35.328L768.192 192H928a32 32 0 0 1 32 32v640a32 32 0 0 1-32 32H96a32 32 0 0 1-32-32V224a32 32 0 0 1 32-32m416 512a160 160 0 1 0 0-320 160 160 0 0 0 0 320m0 64a224 224 0 1 1 0-448 224 224 0 0 1 0 448"></path></svg>',
    error: '<svg viewBox="0 0 1024 1024" xmlns="http://www.w3.org/2000/svg"><path fill="currentColor" d="M512 64a448 448 0 1 1 0 896 448 448 0 0 1 0-896m0 393.664L407.936 353.6a38.4 38.4 0 1 0-54.336 54.336L457.664 512 353.6 616.064a38.4 38.4 0 1 0 54.336 54.336L512 566.336 616.064 670.4a38.4 38.4 0 1 0 54.336-54.336L566.336 512 670.4 407.936a38.4 38.4 0 1 0-54.336-54.336z"></path></svg>'
  };
  var EMPTY_IMAGE = '<svg viewBox="0 0 79 86" xmlns="http://www.w3.org/2000/svg"><g fill="none" fill-rule="evenodd"><ellipse fill="#dcdde0" cx="39.5" cy="78" rx="32" ry="6"></ellipse><path fill="#e4e7ec" d="M13 58V18l26-12 26 12v40L39 70z"></path><path fill="#f5f7fa" d="M39 6v64L13 58V18z"></path></g></svg>';
  var SPINNER = '<div class="el-loading-spinner"><svg class="circular" viewBox="0 0 50 50"><circle class="path" cx="25" cy="25" r="20" fill="none"></circle></svg></div>';

  // ------------------------------------------------------------------ date helpers
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function fmt(y, m, d) { return y + "-" + pad(m) + "-" + pad(d); }
  function daysIn(y, m) { return new Date(Date.UTC(y, m, 0)).getUTCDate(); }
  function split(ds) { return ds.split("-").map(Number); }
  function shift(ds, days) {
    var p = split(ds);
    var t = new Date(Date.UTC(p[0], p[1] - 1, p[2] + days));
    return fmt(t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate());
  }
  function parseDate(text) {
    var m = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$/.exec(text || "");
    if (!m) return null;
    var y = +m[1], mo = +m[2], d = +m[3];
    if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo)) return null;
    return fmt(y, mo, d);
  }
  function isDisabled(ds) { return ds > cfg.today; }

  function throttle(fn, wait) {
    var last = 0, timer = null;
    return function () {
      var now = Date.now(), rest = wait - (now - last);
      if (rest <= 0) {
        if (timer) { clearTimeout(timer); timer = null; }
        last = now;
        fn();
      } else if (!timer) {
        timer = setTimeout(function () { last = Date.now(); timer = null; fn(); }, rest);
      }
    };
  }

  function h(tag, cls, htmlText) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (htmlText !== undefined) node.innerHTML = htmlText;
    return node;
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  var zIndex = 2000;
  function nextZ() { zIndex += 1; return zIndex; }

  // ------------------------------------------------------------------ ElMessage
  function message(text, type) {
    var box = h("div", "el-message el-message--" + type,
      '<i class="el-icon el-message__icon el-message-icon--' + type + '">' + ICON.error + "</i>" +
      '<p class="el-message__content"></p>');
    box.setAttribute("role", "alert");
    box.querySelector("p").textContent = text;
    box.style.top = "16px";
    box.style.zIndex = String(nextZ());
    document.body.appendChild(box);
    setTimeout(function () { box.remove(); }, 3000);
  }

  // ------------------------------------------------------------------ el-image
  // A ready-made <div class="el-image"> whose <img> is created only when load() is called.
  function ElImage(url, alt) {
    this.url = url;
    this.alt = alt;
    this.state = "idle";
    this.el = h("div", "el-image",
      '<div class="el-image__wrapper"><div class="el-image__placeholder"></div></div>');
  }
  ElImage.prototype.load = function () {
    if (this.state !== "idle") return;
    this.state = "loading";
    var self = this;
    var img = document.createElement("img");
    img.className = "el-image__inner is-loading";
    img.alt = this.alt;
    img.style.objectFit = "cover";
    img.onload = function () {
      img.classList.remove("is-loading");
      var wrap = self.el.querySelector(".el-image__wrapper");
      if (wrap) wrap.remove();
      self.state = "loaded";
    };
    img.onerror = function () {
      self.el.innerHTML = '<div class="el-image__error">FAILED</div>';
      self.state = "error";
    };
    img.src = this.url;
    this.el.insertBefore(img, this.el.firstChild);
  };
  ElImage.prototype.inView = function (box) {
    var r = this.el.getBoundingClientRect();
    return r.top < box.bottom && r.bottom > box.top && r.left < box.right && r.right > box.left;
  };

  // ------------------------------------------------------------------ layout
  var streamLabel = cfg.stream;
  var tabs = cfg.streams.map(function (s) {
    if (s.name === cfg.stream) streamLabel = s.label;
    return '<a class="el-tabs__item' + (s.name === cfg.stream ? " is-active" : "") +
      '" href="/terminal_cameras/' + cfg.terminal + "?streamName=" + s.name + '#camera-history">' +
      s.label + "</a>";
  }).join("");
  document.title = cfg.terminalName + " " + streamLabel + " Camera | DrayDog";

  var app = document.getElementById("app");
  app.innerHTML =
    '<header class="app-header"><div class="app-header__inner">' +
    '<a class="app-logo" href="/"><span class="app-logo__mark">DD</span>DrayDog</a>' +
    '<nav class="app-nav"><a href="/">Terminals</a><a class="is-active" href="#">Cameras</a>' +
    '<a href="/">Appointments</a><a href="/">Pricing</a></nav>' +
    '<button type="button" class="el-button el-button--primary"><span>Sign in</span></button>' +
    "</div></header>" +
    '<main class="terminal-cameras">' +
    '<div class="el-breadcrumb"><span class="el-breadcrumb__item">Terminals</span>' +
    '<span class="el-breadcrumb__separator">/</span><span class="el-breadcrumb__item">' +
    cfg.terminalName + "</span></div>" +
    '<div class="terminal-title"><h1>' + cfg.terminalName + ' <small>Gate Cameras</small></h1></div>' +
    '<div class="el-tabs"><div class="el-tabs__nav">' + tabs + "</div></div>" +
    '<section class="el-card camera-live"><div class="el-card__body">' +
    '<div class="section-header"><h2>' + streamLabel + "</h2>" +
    '<span class="el-tag el-tag--success el-tag--light"><span class="el-tag__content">LIVE</span></span>' +
    '<span class="live-updated"></span></div>' +
    '<div class="live-grid"></div></div></section>' +
    '<section id="camera-history" class="el-card camera-history"><div class="el-card__body">' +
    '<div class="section-header"><h2>History</h2>' +
    '<div class="el-input el-input--prefix el-input--suffix el-date-editor el-date-editor--date el-tooltip__trigger">' +
    '<div class="el-input__wrapper">' +
    '<span class="el-input__prefix"><span class="el-input__prefix-inner"><i class="el-icon el-input__icon">' +
    ICON.calendar + "</i></span></span>" +
    '<input class="el-input__inner" type="text" autocomplete="off" tabindex="0" placeholder="Pick a day">' +
    '<span class="el-input__suffix"><span class="el-input__suffix-inner"><i class="el-icon el-input__icon"></i></span></span>' +
    "</div></div></div>" +
    '<div class="history-body"><div class="history-gallery"></div></div>' +
    '<p class="history-note">Times are local to the terminal. Images are kept for 30 days.</p>' +
    "</div></section>" +
    "</main>" +
    '<footer class="app-footer">&copy; DrayDog &middot; Drayage data for the ports of Los Angeles and Long Beach</footer>';

  var editor = app.querySelector(".el-date-editor");
  var wrapper = editor.querySelector(".el-input__wrapper");
  var input = editor.querySelector("input.el-input__inner");
  var historyBody = app.querySelector(".history-body");
  var gallery = app.querySelector(".history-gallery");
  var liveGrid = app.querySelector(".live-grid");

  // ------------------------------------------------------------------ el-date-picker
  var picker = { value: cfg.today, userInput: null, visible: false, viewY: 0, viewM: 0 };
  var popper = null;
  var tbody = null;
  input.value = picker.value;

  function setView(ds) {
    var p = split(ds);
    picker.viewY = p[0];
    picker.viewM = p[1];
  }

  function ensurePopper() {
    if (popper) return popper;
    popper = h("div", "el-popper is-pure is-light el-picker__popper",
      '<div class="el-picker-panel el-date-picker"><div class="el-picker-panel__body-wrapper">' +
      '<div class="el-picker-panel__body"><div class="el-date-picker__header">' +
      '<span class="el-date-picker__prev-btn">' +
      '<button type="button" aria-label="Previous Year" class="el-picker-panel__icon-btn d-arrow-left"><i class="el-icon">' + ICON.dleft + "</i></button>" +
      '<button type="button" aria-label="Previous Month" class="el-picker-panel__icon-btn arrow-left"><i class="el-icon">' + ICON.left + "</i></button>" +
      "</span>" +
      '<span role="button" class="el-date-picker__header-label" data-part="year"></span> ' +
      '<span role="button" class="el-date-picker__header-label" data-part="month"></span>' +
      '<span class="el-date-picker__next-btn">' +
      '<button type="button" aria-label="Next Month" class="el-picker-panel__icon-btn arrow-right"><i class="el-icon">' + ICON.right + "</i></button>" +
      '<button type="button" aria-label="Next Year" class="el-picker-panel__icon-btn d-arrow-right"><i class="el-icon">' + ICON.dright + "</i></button>" +
      "</span></div>" +
      '<div class="el-picker-panel__content"><table class="el-date-table" cellspacing="0" cellpadding="0" role="grid"><tbody></tbody></table></div>' +
      '</div></div></div><span class="el-popper__arrow"></span>');
    popper.setAttribute("role", "dialog");
    popper.setAttribute("aria-hidden", "true");
    popper.style.position = "absolute";
    popper.style.display = "none";
    tbody = popper.querySelector("tbody");
    // clicks inside the panel never take the focus away from the input
    popper.addEventListener("mousedown", function (e) { e.preventDefault(); });
    popper.addEventListener("click", onPanelClick);
    var container = h("div");
    container.id = "el-popper-container-" + Math.floor(1000 + Math.random() * 9000);
    container.appendChild(popper);
    document.body.appendChild(container);
    return popper;
  }

  function renderPanel() {
    var y = picker.viewY, m = picker.viewM;
    var labels = popper.querySelectorAll(".el-date-picker__header-label");
    labels[0].textContent = String(y);
    labels[1].textContent = MONTHS[m - 1];
    var first = fmt(y, m, 1);
    var lead = new Date(Date.UTC(y, m - 1, 1)).getUTCDay();
    if (lead === 0) lead = 7;
    var start = shift(first, -lead);
    var rows = ["<tr>" + WEEKS.map(function (w) { return '<th scope="col">' + w + "</th>"; }).join("") + "</tr>"];
    var dates = [];
    for (var r = 0; r < 6; r++) {
      var cells = [];
      for (var c = 0; c < 7; c++) {
        var ds = shift(start, r * 7 + c);
        var p = split(ds);
        var classes = [];
        var type = p[1] === m && p[0] === y ? "normal" : (ds < first ? "prev-month" : "next-month");
        var disabled = isDisabled(ds);
        if (type === "normal" && ds === cfg.today) type = "today";
        if ((type === "normal" || type === "today") && !disabled) {
          classes.push("available");
          if (type === "today") classes.push("today");
        } else {
          classes.push(type);
        }
        if (ds === picker.value && type !== "prev-month" && type !== "next-month") classes.push("current");
        if (disabled) classes.push("disabled");
        dates.push(ds);
        cells.push('<td class="' + classes.join(" ") + '"><div class="el-date-table-cell">' +
          '<span class="el-date-table-cell__text">' + p[2] + "</span></div></td>");
      }
      rows.push('<tr class="el-date-table__row">' + cells.join("") + "</tr>");
    }
    tbody.innerHTML = rows.join("");
    var tds = tbody.querySelectorAll("td");
    for (var i = 0; i < tds.length; i++) tds[i]._date = dates[i];
  }

  function positionPanel() {
    if (!popper || !picker.visible) return;
    var r = editor.getBoundingClientRect();
    popper.style.top = Math.round(r.bottom + window.scrollY + 12) + "px";
    popper.style.left = Math.round(r.left + window.scrollX) + "px";
  }

  function openPanel() {
    if (picker.visible) return;
    ensurePopper();
    picker.visible = true;
    setView(parseDate(picker.userInput) || picker.value);
    renderPanel();
    popper.style.zIndex = String(nextZ());
    popper.style.display = "";
    popper.setAttribute("aria-hidden", "false");
    positionPanel();
    wrapper.classList.add("is-focus");
  }

  function closePanel() {
    if (!picker.visible) return;
    picker.visible = false;
    popper.style.display = "none";
    popper.setAttribute("aria-hidden", "true");
  }

  function restore() {
    picker.userInput = null;
    input.value = picker.value;
  }

  function select(ds) {
    picker.userInput = null;
    input.value = ds;
    closePanel();
    if (ds !== picker.value) {
      picker.value = ds;
      loadHistory(ds);
    }
  }

  function onPanelClick(e) {
    var btn = e.target.closest("button");
    if (btn && popper.contains(btn)) {
      var cl = btn.classList;
      if (cl.contains("d-arrow-left")) picker.viewY -= 1;
      else if (cl.contains("d-arrow-right")) picker.viewY += 1;
      else if (cl.contains("arrow-left")) { picker.viewM -= 1; if (picker.viewM < 1) { picker.viewM = 12; picker.viewY -= 1; } }
      else if (cl.contains("arrow-right")) { picker.viewM += 1; if (picker.viewM > 12) { picker.viewM = 1; picker.viewY += 1; } }
      renderPanel();
      return;
    }
    var td = e.target.closest("td");
    if (!td || !tbody.contains(td) || !td._date) return;
    if (td.classList.contains("disabled")) return;
    select(td._date);
  }

  input.addEventListener("focus", function () { openPanel(); });
  input.addEventListener("mousedown", function () { openPanel(); });
  input.addEventListener("input", function () {
    picker.userInput = input.value;
    var ds = parseDate(input.value);
    if (ds && picker.visible) { setView(ds); renderPanel(); }
  });
  // The value only changes by Enter or a click in the panel; a native change (e.g. after
  // Selenium's clear()) puts the displayed value back.
  input.addEventListener("change", function () { restore(); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" || e.key === "NumpadEnter") {
      e.preventDefault();
      e.stopPropagation();
      if (!picker.visible) { openPanel(); return; }
      if (picker.userInput === null) { closePanel(); return; }
      var ds = parseDate(picker.userInput);
      if (ds && !isDisabled(ds)) select(ds);
      else restore();
    } else if (e.key === "Escape") {
      restore();
      closePanel();
    } else if (e.key === "Tab") {
      closePanel();
    }
  });
  input.addEventListener("blur", function () {
    wrapper.classList.remove("is-focus");
    setTimeout(function () {
      if (document.activeElement !== input) {
        closePanel();
        restore();
      }
    }, 0);
  });
  editor.addEventListener("mousedown", function (e) {
    if (e.target !== input) { e.preventDefault(); input.focus(); openPanel(); }
  });
  document.addEventListener("mousedown", function (e) {
    if (!picker.visible) return;
    if (editor.contains(e.target) || (popper && popper.contains(e.target))) return;
    closePanel();
  });
  window.addEventListener("resize", positionPanel);
  window.addEventListener("scroll", positionPanel, true);

  // ------------------------------------------------------------------ History gallery
  var items = [];
  var mask = null;
  var historySeq = 0;

  function showMask() {
    if (mask) return;
    historyBody.classList.add("el-loading-parent--relative");
    mask = h("div", "el-loading-mask", SPINNER);
    historyBody.appendChild(mask);
  }

  function hideMask() {
    if (!mask) return;
    mask.remove();
    mask = null;
    historyBody.classList.remove("el-loading-parent--relative");
  }

  var lazyCheck = function () {
    var box = gallery.getBoundingClientRect();
    for (var i = 0; i < items.length; i++) {
      if (items[i].state === "idle" && items[i].inView(box)) items[i].load();
    }
  };
  gallery.addEventListener("scroll", throttle(lazyCheck, 200));
  window.addEventListener("resize", throttle(lazyCheck, 200));

  function empty(text) {
    return '<div class="el-empty"><div class="el-empty__image" style="width: 120px">' + EMPTY_IMAGE +
      '</div><div class="el-empty__description"><p>' + text + "</p></div></div>";
  }

  function renderGallery(images) {
    items = [];
    gallery.innerHTML = "";
    if (!images.length) {
      gallery.innerHTML = empty("No Data");
      return;
    }
    var grid = h("div", "history-grid");
    images.forEach(function (im) {
      var clock = im.time.slice(11);
      var image = new ElImage(im.url, clock);
      var cell = h("div", "history-item");
      cell.appendChild(image.el);
      var cap = h("div", "history-item__time");
      cap.textContent = clock;
      cell.appendChild(cap);
      grid.appendChild(cell);
      items.push(image);
    });
    gallery.appendChild(grid);
    if (cfg.lazy === false) items.forEach(function (it) { it.load(); });
    else setTimeout(lazyCheck, 0);
  }

  function loadHistory(ds) {
    var seq = ++historySeq;
    showMask();
    getJSON(cfg.api + "/history?stream=" + encodeURIComponent(cfg.stream) + "&date=" + ds)
      .then(function (data) {
        if (seq !== historySeq) return;
        renderGallery(data.images || []);
        hideMask();
      })
      .catch(function () {
        if (seq !== historySeq) return;
        items = [];
        gallery.innerHTML = empty("Failed to load the images of " + ds);
        hideMask();
        message("Failed to load camera history, please try again later.", "error");
      });
  }

  // ------------------------------------------------------------------ live section
  function loadLive() {
    getJSON(cfg.api + "/latest?stream=" + encodeURIComponent(cfg.stream) + "&limit=" + cfg.liveCount)
      .then(function (data) {
        liveGrid.innerHTML = "";
        var images = data.images || [];
        if (!images.length) { liveGrid.innerHTML = empty("No recent images"); return; }
        images.forEach(function (im) {
          var image = new ElImage(im.url, im.time);
          var cell = h("figure", "live-item");
          cell.appendChild(image.el);
          var cap = h("figcaption");
          cap.textContent = im.time.replace("T", " ");
          cell.appendChild(cap);
          liveGrid.appendChild(cell);
          image.load();
        });
        app.querySelector(".live-updated").textContent = "Updated " + images[0].time.replace("T", " ");
      })
      .catch(function () { liveGrid.innerHTML = empty("Live images are unavailable"); });
  }

  loadLive();
  loadHistory(picker.value);
})();
