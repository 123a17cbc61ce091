// Package wellknown is ebb's HTTP(S) listener: what other mail servers and
// mail clients fetch from a mail host, generated from the settings so that
// it always says what ebb does.
//
//   - https://mta-sts.DOMAIN/.well-known/mta-sts.txt — the MTA-STS policy
//     of each hosted domain (RFC 8461 §3.2); PolicyText also gives the id
//     that the _mta-sts TXT record must carry (ebb dns check prints it);
//   - Thunderbird's autoconfig at autoconfig.DOMAIN/mail/config-v1.1.xml
//     and DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml;
//   - Outlook's autodiscover (POX) at /autodiscover/autodiscover.xml;
//   - on plain HTTP: ACME http-01 answers; everything else is redirected to
//     HTTPS (an MTA-STS policy is only valid over HTTPS, RFC 8461 §3.3).
//
// Only hosted domains (and their domain aliases) get answers; any other
// name gets 404, so the listener tells nobody which names it does not
// serve. Certificates come from internal/acme's GetCertificate.
package wellknown
