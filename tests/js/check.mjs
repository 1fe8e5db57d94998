// Parse iCalendar files with ical.js, an independent parser (ical-interop.md, section 5).
// Usage: node check.mjs a.ics [b.ics ...]. Prints one JSON line per file:
//   {"file": ..., "events": [{uid, sequence, start, end, method, status, attendees, summary,
//                             location, occurrences}]}   or   {"file": ..., "error": "..."}
// and exits 1 when any file fails.
import ICAL from "ical.js";
import { readFileSync } from "node:fs";

let bad = 0;
for (const f of process.argv.slice(2)) {
  try {
    ICAL.TimezoneService.reset(); // the registry is global: reset per file
    const root = new ICAL.Component(ICAL.parse(readFileSync(f, "utf8")));
    if (root.name !== "vcalendar") throw new Error(`top component is ${root.name}`);
    for (const tz of root.getAllSubcomponents("vtimezone")) {
      ICAL.TimezoneService.register(new ICAL.Timezone(tz));
    }
    const method = root.getFirstPropertyValue("method");
    const events = [];
    for (const ve of root.getAllSubcomponents("vevent")) {
      const ev = new ICAL.Event(ve);
      const dtstart = ve.getFirstProperty("dtstart");
      if (!dtstart) throw new Error(`event ${ev.uid} has no DTSTART`);
      const tzid = dtstart.getParameter("tzid");
      if (tzid && !ICAL.TimezoneService.has(tzid)) throw new Error(`TZID ${tzid} has no VTIMEZONE`);
      const occurrences = [];
      if (ev.isRecurring()) {
        const it = ev.iterator();
        let n;
        while ((n = it.next()) && occurrences.length < 20) occurrences.push(n.toJSDate().toISOString());
      }
      events.push({
        uid: ev.uid,
        sequence: ev.sequence,
        start: ev.startDate.toJSDate().toISOString(),
        end: ev.endDate ? ev.endDate.toJSDate().toISOString() : null,
        method: method ?? null,
        status: ve.getFirstPropertyValue("status") ?? null,
        attendees: ve.getAllProperties("attendee").length,
        summary: ev.summary ?? null,
        location: ev.location ?? null,
        occurrences,
      });
    }
    console.log(JSON.stringify({ file: f, events }));
  } catch (e) {
    bad++;
    console.log(JSON.stringify({ file: f, error: String(e && e.message ? e.message : e) }));
  }
}
// Not process.exit(): that may cut off stdout still being written to a pipe.
process.exitCode = bad ? 1 : 0;
