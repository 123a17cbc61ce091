package main

import "strings"

// messages are the test messages the cases run against, by name.
var messages = map[string]string{
	// plain: an ordinary personal message with two Received fields, a
	// display-name To list with a quoted comma, and a numeric header.
	"plain": `
Return-Path: <alice@example.org>
Received: from mx1.example.org (mx1.example.org [192.0.2.1])
	by mx.example.com with ESMTP id AAA111; Sat, 28 Nov 2026 13:22:39 +0000
Received: from client.example.org ([198.51.100.7])
	by mx1.example.org with ESMTPSA id BBB222; Sat, 28 Nov 2026 13:22:30 +0000
Date: Sat, 28 Nov 2026 14:22:29 +0100
From: Alice Example <alice@example.org>
To: Bob <bob@example.com>, carol@example.net
Cc: "Dave, Jr." <dave@example.com>
Subject: Your invoice 42
Message-ID: <invoice-42@example.org>
X-Priority: 3
X-Count: 17
X-Empty:
X-Folded: first part
  second part
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hello Bob,

please find the invoice details below. Total: 42 EUR.

Alice
`,
	// list: mailing-list traffic.
	"list": `
Received: from lists.example.org (lists.example.org [192.0.2.9])
	by mx.example.com with ESMTP id LLL333; Fri, 27 Nov 2026 23:59:59 -0800
Date: Fri, 27 Nov 2026 23:59:59 -0800
From: Linus <torvalds@kernel.example.org>
Sender: linux-kernel-owner@vger.example.org
To: linux-kernel@vger.example.org
Subject: [PATCH 1/3] sched: fix the thing
List-Id: Linux Kernel <linux-kernel.vger.example.org>
List-Unsubscribe: <mailto:majordomo@vger.example.org?body=unsubscribe>
Precedence: list
Message-ID: <patch-1@kernel.example.org>

The patch.
`,
	// multipart: nested MIME with a quoted-printable text part, an HTML
	// alternative and a base64 attachment.
	"multipart": `
Date: Thu, 26 Nov 2026 09:00:00 +0000
From: Shop <orders@shop.example.net>
To: bob@example.com
Subject: Your order 7
Message-ID: <order-7@shop.example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is the preamble, not part of any entity.

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Thank you for your order. Tracking code: TRK-12345.
Caf=C3=A9 voucher inside, soft=
ly wrapped.
--inner
Content-Type: text/html; charset=utf-8

<html><body><p>Thank you for your <b>order</b>.</p></body></html>
--inner--

--outer
Content-Type: application/pdf; name="invoice.pdf"
Content-Disposition: attachment; filename="invoice.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKc2VjcmV0IHBheWxvYWQK
--outer--

This is the epilogue.
`,
	// base64text: a single-part text/plain body in base64.
	"base64text": `
Date: Wed, 25 Nov 2026 10:00:00 +0000
From: ops@example.org
To: bob@example.com
Subject: credentials
Message-ID: <creds@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: base64

VGhlIHBhc3N3b3JkIGlzIHN3b3JkZmlzaC4KU2Vjb25kIGxpbmUgb2YgdGhlIHNlY3JldC4K
`,
	// encoded: RFC 2047 encoded words in Subject and From.
	"encoded": `
Date: Tue, 24 Nov 2026 08:00:00 +0100
From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.de>
To: =?UTF-8?Q?Bob_=E2=98=BA?= <bob@example.com>
Subject: =?UTF-8?B?UmVjaG51bmcgZsO8ciBDYWbDqQ==?=
Message-ID: <rechnung@example.de>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Grüße aus Köln.
`,
	// subaddress: sent to a +detail address.
	"subaddress": `
Date: Mon, 23 Nov 2026 12:00:00 +0000
From: news@example.net
To: bob+lists@example.com
Cc: bob+a+b@example.com, plain@example.com, bob+@example.com
Subject: Weekly news
Message-ID: <news-48@example.net>

News.
`,
	// spam: scanner verdict headers as SpamAssassin and a virus scanner write them.
	"spam": `
Date: Sun, 22 Nov 2026 03:00:00 +0000
From: winner@lottery.example
To: bob@example.com
Subject: You have WON
Message-ID: <won@lottery.example>
X-Spam-Score: score=7.5
X-Spam-Level: *******
X-Spam-Status: Yes
X-Virus-Scan: infected level=4

Claim now.
`,
	// ham: scanner headers saying "clean".
	"ham": `
Date: Sun, 22 Nov 2026 04:00:00 +0000
From: friend@example.org
To: bob@example.com
Subject: lunch?
Message-ID: <lunch@example.org>
X-Spam-Score: score=0.5
X-Spam-Level:
X-Spam-Status: No
X-Virus-Scan: clean level=1

Lunch tomorrow?
`,
	// auto: an automatic reply (RFC 3834).
	"auto": `
Date: Sat, 21 Nov 2026 05:00:00 +0000
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: bob@example.com
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Message-ID: <bounce-1@mx.example.net>

Your message could not be delivered.
`,
	// dates: a Date on a leap day late in the evening west of UTC, so that
	// converting zones moves the day, month and weekday.
	"dates": `
Date: Mon, 29 Feb 2016 23:30:15 -0500
Resent-Date: 1 Mar 2016 10:00 +0900
X-Bad-Date: not a date at all
From: clock@example.org
To: bob@example.com
Subject: timing
Message-ID: <timing@example.org>

Tick.
`,
	// nodate: no Date, no Message-ID, no Subject.
	"nodate": `
From: bare@example.org
To: bob@example.com

Almost nothing.
`,
	// many: several recipients and repeated fields for :count and :index.
	"many": `
Received: from c.example.net by b.example.net; Sat, 28 Nov 2026 10:00:03 +0000
Received: from b.example.net by a.example.net; Sat, 28 Nov 2026 10:00:02 +0000
Received: from a.example.net by origin.example.net; Sat, 28 Nov 2026 10:00:01 +0000
Date: Sat, 28 Nov 2026 10:00:00 +0000
From: boss@example.com
To: bob@example.com, team@example.com, "Eve" <eve@example.org>
Cc: carol@example.net, dave@example.com
Subject: meeting
Subject: duplicate subject field
X-Tag: alpha
X-Tag: beta
X-Tag: gamma
X-Num: 9
X-Num: 10
X-Num: 010
X-Num: abc
Message-ID: <meeting@example.com>

Agenda.
`,
	// large: over 10 KiB of body for size tests.
	"large": `
Date: Fri, 20 Nov 2026 06:00:00 +0000
From: logs@example.org
To: bob@example.com
Subject: nightly log
Message-ID: <log-1120@example.org>

` + strings.Repeat("2026-11-20T06:00:00Z worker-7 processed batch ok in 12ms\n", 200),
}
