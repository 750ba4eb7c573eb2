// The cockpit's one script: every change is a call of the public JSON API with the session cookie and the
// page's CSRF token. No framework, no build step; the pages work for reading without it.
(function () {
  'use strict';

  var FLASH = 'cockpit-flash';

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }

  function words() {
    var element = document.getElementById('words');
    return element ? element.dataset : {};
  }

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  // The polite live region at the top of <main>: screen readers announce what an action did.
  function announce(text, kind) {
    var region = document.getElementById('result');
    if (!region) { return; }
    region.className = 'result' + (kind ? ' result-' + kind : '');
    region.textContent = '';
    // A fresh text node after a tick, so the change is announced even when the text repeats.
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  function api(method, path, body) {
    var headers = { 'Accept': 'application/json', 'X-CSRF-Token': csrfToken() };
    var options = { method: method, headers: headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (ignored) { data = null; }
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }

  // What went wrong, in the operator's words (the API's own sentence follows, as it was given).
  function problemText(result) {
    var w = words();
    var code = result.data && result.data.error;
    var text = w['error' + (code || '').replace(/(^|_)(\w)/g, function (m, s, c) { return c.toUpperCase(); })] ||
      w.errorOther || 'The action failed.';
    var detail = result.data && result.data.detail;
    if (detail) { text += ' ' + detail; }
    var fields = (result.data && result.data.fields) || [];
    fields.forEach(function (field) { text += ' (' + field.field + ': ' + field.detail + ')'; });
    return text;
  }

  function showProblem(form, text) {
    var box = form.querySelector('.form-problem');
    if (!box) {
      box = document.createElement('p');
      box.className = 'form-problem';
      box.setAttribute('role', 'alert');
      form.appendChild(box);
    }
    box.textContent = text;
  }

  function clearProblem(form) {
    var box = form.querySelector('.form-problem');
    if (box) { box.remove(); }
  }

  // The form's fields as the API wants them: radio buttons by their checked value, boolean check boxes as
  // true/false, empty optional fields left out.
  function fieldsOf(form) {
    var values = {};
    Array.prototype.forEach.call(form.elements, function (element) {
      if (!element.name || element.disabled || element.type === 'submit' || element.type === 'button') { return; }
      if (element.type === 'radio' && !element.checked) { return; }
      if (element.type === 'checkbox') {
        if (element.dataset.type === 'boolean') { values[element.name] = element.checked; }
        else if (element.checked) { values[element.name] = element.value; }
        return;
      }
      var value = element.value.trim();
      if (value !== '') { values[element.name] = value; }
    });
    return values;
  }

  function busy(form, on) {
    form.setAttribute('aria-busy', on ? 'true' : 'false');
    Array.prototype.forEach.call(form.querySelectorAll('button'), function (button) { button.disabled = on; });
  }

  function afterSuccess(form, data) {
    var message = form.dataset.done || '';
    try { window.sessionStorage.setItem(FLASH, message); } catch (ignored) { /* private mode: no message */ }
    var next = form.dataset.next;
    if (next) {
      window.location.assign(fill(next, { id: data && data.id ? encodeURIComponent(data.id) : '' }));
    } else {
      window.location.reload();
    }
  }

  function submitApiForm(event) {
    var form = event.target;
    event.preventDefault();
    clearProblem(form);
    var values = fieldsOf(form);
    var method = form.dataset.method || 'POST';
    var path = form.dataset.path;
    var body;
    if (form.dataset.body === 'query') {
      path += '?' + new URLSearchParams(values).toString();
    } else {
      body = values;
    }
    busy(form, true);
    api(method, path, body).then(function (result) {
      if (result.ok) {
        afterSuccess(form, result.data);
      } else {
        busy(form, false);
        showProblem(form, problemText(result));
      }
    }, function () {
      busy(form, false);
      showProblem(form, words().errorNetwork || 'The service could not be reached.');
    });
  }

  // Bulk actions: a dry run counts the selection, the operator confirms, then the call carries that count and
  // the selection's digest (the API refuses if the selection changed meanwhile, even to as many requests).
  function bulkBody(form, extra) {
    var body = { filter: {} };
    new URLSearchParams(form.dataset.query || '').forEach(function (value, key) {
      if (key === 'status') {
        (body.filter.status = body.filter.status || []).push(value);
      } else if (key === 'overdue') {
        body.filter.overdue = value === 'true';
      } else {
        body.filter[key] = value;
      }
    });
    Object.keys(extra).forEach(function (key) { body[key] = extra[key]; });
    return body;
  }

  function bulkExtra(form) {
    var values = fieldsOf(form);
    if (form.dataset.bulk === 'accept') { return { handling: 'automatic' }; }
    return { reason: values.reason || '', notify: values.notify === 'true' };
  }

  function submitBulkForm(event) {
    var form = event.target;
    event.preventDefault();
    clearProblem(form);
    var section = form.closest('.bulk');
    var confirmBox = section.querySelector('.bulk-confirm');
    var question = section.querySelector('#bulk-question');
    var bulkWords = document.getElementById('bulk-words').dataset;
    var kind = form.dataset.bulk;
    var path = '/v1/privacy-requests/bulk/' + kind;
    var extra = bulkExtra(form);
    busy(form, true);
    announce(bulkWords.counting);
    api('POST', path, bulkBody(form, Object.assign({ dry_run: true }, extra))).then(function (counted) {
      busy(form, false);
      if (!counted.ok) { showProblem(form, problemText(counted)); announce(''); return; }
      var count = counted.data.matched;
      var digest = counted.data.selection_digest;
      if (!count) { announce(bulkWords.none); return; }
      announce('');
      question.textContent = fill(bulkWords[kind + 'Question'], { count: count });
      confirmBox.hidden = false;
      confirmBox.focus();
      var yes = confirmBox.querySelector('.js-bulk-yes');
      var no = confirmBox.querySelector('.js-bulk-no');
      function close() {
        confirmBox.hidden = true;
        yes.onclick = null;
        no.onclick = null;
        confirmBox.onkeydown = null;
      }
      // Escape cancels, as in any dialog.
      confirmBox.onkeydown = function (key) { if (key.key === 'Escape') { no.click(); } };
      no.onclick = function () {
        close();
        announce(bulkWords.cancelled);
        form.querySelector('button[type="submit"]').focus();
      };
      yes.onclick = function () {
        yes.disabled = true;
        api('POST', path, bulkBody(form, Object.assign({ expected_count: count, selection_digest: digest }, extra))).then(function (done) {
          yes.disabled = false;
          close();
          if (!done.ok) { showProblem(form, problemText(done)); form.querySelector('button[type="submit"]').focus(); return; }
          var message = fill(bulkWords.done, { done: done.data.changed, skipped: done.data.skipped_count });
          try { window.sessionStorage.setItem(FLASH, message); } catch (ignored) { /* no message */ }
          window.location.reload();
        }, function () {
          yes.disabled = false;
          close();
          showProblem(form, words().errorNetwork || 'The service could not be reached.');
        });
      };
    }, function () {
      busy(form, false);
      showProblem(form, words().errorNetwork || 'The service could not be reached.');
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    Array.prototype.forEach.call(document.querySelectorAll('form.js-api'), function (form) {
      form.addEventListener('submit', submitApiForm);
    });
    Array.prototype.forEach.call(document.querySelectorAll('form.js-bulk'), function (form) {
      form.addEventListener('submit', submitBulkForm);
    });
    var flash = null;
    try {
      flash = window.sessionStorage.getItem(FLASH);
      window.sessionStorage.removeItem(FLASH);
    } catch (ignored) { flash = null; }
    if (flash) { announce(flash, 'done'); }
  });
}());
