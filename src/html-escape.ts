/** Text for HTML pages rendered on the server (the evaluation report, the dashboard). */
export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
