package wellknown

import "encoding/xml"

// Thunderbird's autoconfig format, version 1.1, as its reader
// (comm-central mail/components/accountcreation/modules/readFromXML.sys.mjs)
// takes it: clientConfig/emailProvider with an id and at least one domain,
// incomingServer of type imap with hostname, port, socketType (SSL or
// STARTTLS), authentication and username; outgoingServer of type smtp the
// same. %EMAILADDRESS% is replaced by the address the user typed: ebb's
// logins are whole addresses.
type clientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider emailProvider `xml:"emailProvider"`
}

type emailProvider struct {
	ID               string         `xml:"id,attr"`
	Domain           []string       `xml:"domain"`
	DisplayName      string         `xml:"displayName"`
	DisplayShortName string         `xml:"displayShortName"`
	Incoming         []serverConfig `xml:"incomingServer"`
	Outgoing         []serverConfig `xml:"outgoingServer"`
}

type serverConfig struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

func socketType(e Endpoint) string {
	if e.Implicit {
		return "SSL"
	}
	return "STARTTLS"
}

// Autoconfig is the config-v1.1.xml document for domain.
func Autoconfig(s Settings, domain string) []byte {
	c := clientConfig{Version: "1.1", Provider: emailProvider{ID: domain, Domain: []string{domain},
		DisplayName: domain + " mail", DisplayShortName: domain}}
	c.Provider.Incoming = []serverConfig{{Type: "imap", Hostname: s.IMAP.Host, Port: s.IMAP.Port,
		SocketType: socketType(s.IMAP), Authentication: "password-cleartext", Username: "%EMAILADDRESS%"}}
	if s.Submission != nil {
		c.Provider.Outgoing = []serverConfig{{Type: "smtp", Hostname: s.Submission.Host, Port: s.Submission.Port,
			SocketType: socketType(*s.Submission), Authentication: "password-cleartext", Username: "%EMAILADDRESS%"}}
	}
	b, _ := xml.MarshalIndent(c, "", "  ")
	return append([]byte(xml.Header), append(b, '\n')...)
}

// Outlook's autodiscover, the plain-old-XML protocol ([MS-OXDSCLI] §2.2.4):
// the request names an address, the response lists IMAP and SMTP.
type autodiscoverRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

const (
	adResponseNS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	adOutlookNS  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

type autodiscoverResponse struct {
	XMLName  xml.Name   `xml:"Autodiscover"`
	NS       string     `xml:"xmlns,attr"`
	Response adResponse `xml:"Response"`
}

type adResponse struct {
	NS      string    `xml:"xmlns,attr"`
	Account adAccount `xml:"Account"`
}

type adAccount struct {
	AccountType string       `xml:"AccountType"`
	Action      string       `xml:"Action"`
	Protocol    []adProtocol `xml:"Protocol"`
}

type adProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	LoginName      string `xml:"LoginName"`
	DomainRequired string `xml:"DomainRequired"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption,omitempty"`
	AuthRequired   string `xml:"AuthRequired"`
}

func adProto(typ string, e Endpoint, login string) adProtocol {
	p := adProtocol{Type: typ, Server: e.Host, Port: e.Port, LoginName: login, DomainRequired: "off", SPA: "off", SSL: "on", AuthRequired: "on"}
	// SSL on with Encryption names the kind: SSL is TLS from the first
	// byte, TLS is STARTTLS ([MS-OXDSCLI] §2.2.4.1.1.2.2.1).
	if e.Implicit {
		p.Encryption = "SSL"
	} else {
		p.Encryption = "TLS"
	}
	return p
}

// Autodiscover is the POX response for address.
func Autodiscover(s Settings, address string) []byte {
	r := autodiscoverResponse{NS: adResponseNS, Response: adResponse{NS: adOutlookNS, Account: adAccount{AccountType: "email", Action: "settings"}}}
	r.Response.Account.Protocol = append(r.Response.Account.Protocol, adProto("IMAP", s.IMAP, address))
	if s.Submission != nil {
		r.Response.Account.Protocol = append(r.Response.Account.Protocol, adProto("SMTP", *s.Submission, address))
	}
	b, _ := xml.MarshalIndent(r, "", "  ")
	return append([]byte(xml.Header), append(b, '\n')...)
}
