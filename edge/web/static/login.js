/* FieldCoach login: fetch a session (for its CSRF token), then post the teacher's name and PIN. */
"use strict";

async function loginSession() {
  const r = await fetch("/api/session", { credentials: "same-origin" });
  return r.json();
}

document.addEventListener("DOMContentLoaded", async () => {
  const form = document.getElementById("login-form");
  const err = document.getElementById("login-error");
  const button = document.getElementById("login-submit");
  let session = await loginSession();
  if (session.authenticated) { location.href = "/"; return; }
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    err.textContent = "";
    button.disabled = true;
    try {
      const r = await fetch("/api/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf },
        body: JSON.stringify({ user: form.user.value.trim(), password: form.password.value }),
      });
      const data = await r.json().catch(() => ({}));
      if (r.ok) { location.href = "/"; return; }
      if (r.status === 403) session = await loginSession();  // the login page's session expired
      err.textContent = data.error || `login failed (${r.status})`;
      form.password.value = "";
    } catch (e) {
      err.textContent = "the screen service cannot be reached.";
    } finally {
      button.disabled = false;
    }
  });
});
