#!/usr/bin/perl
# One SIP request over UDP, for tests that run inside network namespaces
# (ip netns exec) where the C harness cannot reach: send it, print the
# answer (or nothing) and exit 0 when one came within 3 s, 1 when none.
#
#   udp_request.pl HOST PORT METHOD REQUEST-URI CALL-ID [CONTACT EXPIRES]
#
# REGISTER uses the Request-URI's user@host as To; CONTACT and EXPIRES
# (for REGISTER) add "Contact: <CONTACT>" and "Expires: EXPIRES".
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;

die "usage: $0 HOST PORT METHOD RURI CALL-ID [CONTACT EXPIRES]\n" if @ARGV < 5;
my ($host, $port, $method, $ruri, $callid, $contact, $expires) = @ARGV;

my $sock = IO::Socket::INET->new(Proto => 'udp', PeerAddr => $host, PeerPort => $port)
    or die "socket: $!\n";
my $local = $sock->sockhost . ':' . $sock->sockport;
(my $to = $ruri) =~ s/;.*$//;
$to =~ s/^(sip:[^@]+@[^:;>]+).*/$1/;
my $branch = 'z9hG4bK-' . join('', map { int(rand(10)) } 1 .. 12);
my $msg = "$method $ruri SIP/2.0\r\n"
    . "Via: SIP/2.0/UDP $local;branch=$branch;rport\r\n"
    . "Max-Forwards: 70\r\n"
    . "From: <$to>;tag=ft-$$\r\n"
    . "To: <$to>\r\n"
    . "Call-ID: $callid\r\n"
    . "CSeq: 1 $method\r\n";
$msg .= "Contact: <$contact>\r\n" if defined $contact;
$msg .= "Expires: $expires\r\n" if defined $expires;
$msg .= "Content-Length: 0\r\n\r\n";

my $sel = IO::Select->new($sock);
for my $try (1 .. 3) {
    $sock->send($msg) or die "send: $!\n";
    if ($sel->can_read(1)) {
        my $resp;
        $sock->recv($resp, 65535);
        print $resp;
        exit 0;
    }
}
exit 1;
