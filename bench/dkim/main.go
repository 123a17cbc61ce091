// Command dkim-bench times DKIM signing and verification per message, in
// process, with ebb's msgauth: Ed25519 and RSA-2048, at 4 KiB and 1 MiB.
// It writes the keys, the messages and the signed messages into DIR for the
// peer (peer.py, dkimpy) to time the same work. bench/dkim/run.sh runs both.
//
//	go run ./bench/dkim DIR [N]
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/msgauth"
)

// staticTXT answers the key records from memory: the benchmark times the
// hashing and the signatures, not a DNS server (the peer does the same).
type staticTXT map[string]string

func (s staticTXT) LookupTXT(_ context.Context, n string) ([]string, error) {
	if v, ok := s[strings.TrimSuffix(n, ".")]; ok {
		return []string{v}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: n, IsNotFound: true}
}
func (s staticTXT) LookupMX(_ context.Context, n string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", Name: n, IsNotFound: true}
}
func (s staticTXT) LookupNetIP(_ context.Context, _, n string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: n, IsNotFound: true}
}
func (s staticTXT) LookupAddr(_ context.Context, n string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: n, IsNotFound: true}
}

func message(size int) []byte {
	var b strings.Builder
	b.WriteString("From: Alice <alice@bench.example>\r\nTo: bob@example.net\r\nSubject: bench\r\n" +
		"Date: Tue, 01 Dec 2026 09:00:00 +0000\r\nMessage-ID: <b@bench.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain\r\n\r\n")
	line := "The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return []byte(b.String())
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

func main() {
	dir := os.Args[1]
	n := 200
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	txt := staticTXT{}
	for _, alg := range []string{"ed25519", "rsa"} {
		kd := filepath.Join(dir, "keys-"+alg)
		sg, _ := msgauth.GenerateKey(alg)
		p, err := msgauth.WriteKey(kd, "bench.example", "s"+alg, sg, false, nil)
		if err != nil {
			panic(err)
		}
		k, _ := msgauth.LoadKey(p)
		txt[k.RecordName()] = k.TXT()
		// The key as dkimpy reads it.
		var peer []byte
		switch key := sg.(type) {
		case ed25519.PrivateKey:
			peer = []byte(base64.StdEncoding.EncodeToString(key.Seed()))
		case *rsa.PrivateKey:
			peer = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
		}
		os.WriteFile(filepath.Join(dir, alg+".peerkey"), peer, 0o600)
		os.WriteFile(filepath.Join(dir, alg+".txt"), []byte(k.TXT()), 0o644)
		for _, size := range []int{4 << 10, 1 << 20} {
			name := fmt.Sprintf("%s-%dk", alg, size>>10)
			msgPath := filepath.Join(dir, name+".eml")
			os.WriteFile(msgPath, message(size), 0o644)
			s := &msgauth.Signer{KeyDir: kd}
			var signT []time.Duration
			var sig string
			for range n {
				f, _ := os.Open(msgPath)
				t0 := time.Now()
				sig, err = s.Sign(f)
				signT = append(signT, time.Since(t0))
				f.Close()
				if err != nil || sig == "" {
					panic(fmt.Sprint("sign: ", err))
				}
			}
			signed := filepath.Join(dir, name+".signed.eml")
			os.WriteFile(signed, append([]byte(sig), message(size)...), 0o644)
			c := &msgauth.Checker{Resolver: txt}
			var verT []time.Duration
			for range n {
				t0 := time.Now()
				res := c.Check(context.Background(), msgauth.Input{IP: net.ParseIP("192.0.2.1"), Helo: "h", MailFrom: "a@bench.example", Path: signed})
				verT = append(verT, time.Since(t0))
				if len(res.DKIM) != 1 || res.DKIM[0].Result != "pass" {
					panic(fmt.Sprintf("verify %s: %+v", name, res.DKIM))
				}
			}
			fmt.Printf("ebb %s sign %.3f ms verify %.3f ms\n", name,
				float64(median(signT).Microseconds())/1000, float64(median(verT).Microseconds())/1000)
		}
	}
}
