// deskmail console: keyboard navigation, "select all", live updates. No framework;
// htmx does the requests. Loaded as a static file: the CSP allows no inline script.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function typing(target) {
    if (!target || !target.closest) return false;
    return !!target.closest("input, textarea, select, [contenteditable=true], dialog[open]");
  }

  // -- the ticket list: j/k move, x selects, Enter/o opens ----------------------------
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-row]")); }
  function current() { return document.querySelector("[data-row].selected"); }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (!row) return;
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    var link = row.querySelector("[data-open]");
    if (link) link.focus({ preventScroll: false });
  }
  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.indexOf(current());
    var next = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    select(all[next]);
  }

  function focusField(selector) {
    var field = document.querySelector(selector);
    if (!field) return false;
    var details = field.closest("details");
    if (details) details.open = true;
    var panel = field.closest("[data-panel]");
    if (panel) showPanel(panel.dataset.panel);
    field.focus();
    return true;
  }

  // The composer's tabs (Reply, Internal note, Forward) switch panels in place;
  // without JavaScript they are links that ask the server for the other panel.
  function showPanel(name) {
    var composer = document.getElementById("composer");
    if (!composer || !composer.querySelector('[data-panel="' + name + '"]')) return false;
    composer.querySelectorAll("[data-panel]").forEach(function (panel) {
      panel.hidden = panel.dataset.panel !== name;
    });
    composer.querySelectorAll("[data-tab]").forEach(function (tab) {
      tab.setAttribute("aria-selected", tab.dataset.tab === name ? "true" : "false");
    });
    composer.dataset.mode = name;
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.form) {
      event.preventDefault();
      event.target.form.requestSubmit();
      return;
    }
    if (event.key === "Escape" && typing(event.target) && event.target.blur) {
      event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (keysOff()) return;
    var handled = true;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "o": case "Enter": {
        var row = current();
        var link = row && row.querySelector("[data-open]");
        if (link) window.location.href = link.href; else handled = false;
        break;
      }
      case "x": {
        var box = current() && current().querySelector("input[type=checkbox]");
        if (box) box.click(); else handled = false;
        break;
      }
      case "u": {
        var back = document.querySelector("[data-back]");
        if (back) window.location.href = back.href; else handled = false;
        break;
      }
      case "r": handled = focusField("[data-compose=reply]"); break;
      case "n": handled = focusField("[data-compose=note]"); break;
      case "/": handled = focusField("#quick-search"); break;
      case "?": showHelp(); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  // Single-key shortcuts can be turned off (WCAG 2.1.4), remembered in this browser.
  function keysOff() {
    try { return window.localStorage.getItem("deskmail.keys") === "off"; } catch (e) { return false; }
  }
  function labelToggle() {
    var toggle = document.querySelector("[data-keys-toggle]");
    if (toggle) toggle.textContent = keysOff() ? "Turn single-key shortcuts on" : "Turn single-key shortcuts off";
  }
  document.addEventListener("click", function (event) {
    if (!event.target.closest || !event.target.closest("[data-keys-toggle]")) return;
    try { window.localStorage.setItem("deskmail.keys", keysOff() ? "on" : "off"); } catch (e) { /* private mode */ }
    labelToggle();
  });

  function showHelp() {
    var dialog = document.getElementById("keys-help");
    if (dialog && !dialog.open) dialog.showModal();
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.closest && target.closest("[data-help]")) { showHelp(); return; }
    var tab = target.closest && target.closest("[data-tab], [data-tab-link]");
    if (tab) {
      var name = tab.dataset.tab || tab.dataset.tabLink;
      if (showPanel(name)) {
        event.preventDefault();
        var scope = '[data-panel="' + name + '"] ';
        var field = document.querySelector(scope + '[data-compose]') || document.querySelector(scope + 'input[type=text]');
        if (field) field.focus();
        return;
      }
    }
    var row = target.closest && target.closest("[data-row]");
    if (row) select(row);
  });

  // "Select all on this page".
  document.addEventListener("change", function (event) {
    var all = event.target;
    if (!all.matches || !all.matches("[data-select-all]")) return;
    var form = all.form || all.closest("form");
    if (!form) return;
    form.querySelectorAll("input[name=tickets][type=checkbox]").forEach(function (box) {
      box.checked = all.checked;
    });
  });

  // -- live updates (Server-Sent Events) ------------------------------------------------
  // The server sends what changed (kind, ticket number); the page asks again, through
  // htmx, for the parts that show it. The composer is never touched: new mail on the
  // open ticket is a banner until the agent chooses to see it.
  var live = null;
  function trigger(name, detail) {
    if (window.htmx) window.htmx.trigger(document.body, name, detail);
  }
  function busyInList() {
    if (document.querySelector("input[name=tickets]:checked")) return true;
    var active = document.activeElement;
    return !!(active && active.closest && active.closest("#workspace form.filters"));
  }
  function startLive() {
    var url = document.body.dataset.events;
    if (!url || !window.EventSource || live) return;
    live = new EventSource(url);
    live.addEventListener("deskmail", function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      trigger("deskmail:changed", event);
      if (event.kind === "channel.switched") trigger("deskmail:channel", event);
      var ticket = document.body.dataset.ticket;
      if (ticket) {
        if (String(event.ticket) === ticket) {
          if (event.new_mail) showBanner();
          else trigger("deskmail:ticket-changed", event);
        }
      } else if (document.body.dataset.list) {
        if (busyInList()) showBanner();
        else trigger("deskmail:list-changed", event);
      }
      if (event.notify) notify(event);
    });
  }

  var unseen = 0;
  function showBanner() {
    var banner = document.getElementById("new-banner");
    if (!banner) return;
    unseen += 1;
    var text = banner.querySelector("[data-count]");
    if (text) text.textContent = unseen === 1 ? "1 new message" : unseen + " new messages";
    banner.hidden = false;
  }

  function notify(event) {
    var settings = event.notify;
    var banner = document.getElementById("new-banner");
    if (banner && settings.text) {
      var words = banner.querySelector("[data-notification]");
      if (words) words.textContent = settings.text;
    }
    if (settings.shake && banner) {
      banner.classList.remove("shake");
      void banner.offsetWidth;
      banner.classList.add("shake");
    }
    if (settings.sound && window.AudioContext) {
      try {
        var audio = new window.AudioContext();
        var tone = audio.createOscillator();
        var gain = audio.createGain();
        tone.frequency.value = 880;
        gain.gain.value = 0.05;
        tone.connect(gain); gain.connect(audio.destination);
        tone.start(); tone.stop(audio.currentTime + 0.15);
      } catch (e) { /* no sound where the browser refuses */ }
    }
  }

  document.addEventListener("click", function (event) {
    var show = event.target.closest && event.target.closest("[data-show-new]");
    if (!show) return;
    unseen = 0;
    var banner = document.getElementById("new-banner");
    if (banner) banner.hidden = true;
    if (window.htmx && show.dataset.showNew === "thread") {
      event.preventDefault();
      trigger("deskmail:show-new");
    }
  });

  function start() {
    labelToggle();
    startLive();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
