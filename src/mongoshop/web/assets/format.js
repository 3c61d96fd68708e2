// How figures are shown: English number formats, money from integer minor units, UTC times.

const integers = new Intl.NumberFormat("en");
const moneyFormats = new Map();

function moneyFormat(currency, whole) {
  const key = `${currency}:${whole}`;
  if (!moneyFormats.has(key)) {
    const options = { style: "currency", currency };
    if (whole) {
      options.minimumFractionDigits = 0;
      options.maximumFractionDigits = 0;
    }
    moneyFormats.set(key, new Intl.NumberFormat("en", options));
  }
  return moneyFormats.get(key);
}

export function count(value) {
  return integers.format(value);
}

// Minor units (cents) as money, e.g. 123456 EUR → "€1,234.56".
export function money(minorUnits, currency) {
  if (!currency) {
    return count(Math.round(minorUnits));
  }
  const format = moneyFormat(currency, false);
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(Math.round(minorUnits) / 10 ** digits);
}

// Like `money`, without the fraction when there is none: for axis labels ("€10").
export function moneyShort(minorUnits, currency) {
  if (!currency) {
    return count(minorUnits);
  }
  const digits = moneyFormat(currency, false).resolvedOptions().maximumFractionDigits;
  const scale = 10 ** digits;
  if (minorUnits % scale !== 0) {
    return money(minorUnits, currency);
  }
  return moneyFormat(currency, true).format(minorUnits / scale);
}

const dateTimes = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

export function dateTime(iso) {
  return dateTimes.format(new Date(iso));
}

// A duration in seconds as its two largest units, e.g. "3 h 12 min".
export function duration(seconds) {
  if (seconds < 60) {
    return `${seconds} s`;
  }
  const units = [
    ["d", 86400],
    ["h", 3600],
    ["min", 60],
    ["s", 1],
  ];
  const parts = [];
  let rest = seconds;
  for (const [name, size] of units) {
    const amount = Math.floor(rest / size);
    if (amount > 0 || parts.length > 0) {
      parts.push(`${amount} ${name}`);
      rest -= amount * size;
    }
    if (parts.length === 2) {
      break;
    }
  }
  return parts.join(" ");
}

// "2026-03-01" ± days, in UTC, as "YYYY-MM-DD".
export function addDays(isoDate, days) {
  const date = new Date(`${isoDate}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

export function todayUtc() {
  return new Date().toISOString().slice(0, 10);
}
