#!/usr/bin/perl
# Register a DN with Perl's Net::SIP (a SIP stack no one on this team
# wrote): netsip_register.pl HOST:PORT DN [PASSWORD] [EXPIRES] [udp|tcp]
# Exits 0 when the registrar answered 200, 1 otherwise.
use strict;
use warnings;
use Net::SIP;

my ($registrar, $dn, $pass, $expires, $proto) = @ARGV;
die "usage: $0 HOST:PORT DN [PASSWORD] [EXPIRES] [udp|tcp]\n" unless $dn;
$expires //= 300;
$proto //= 'udp';
my ($host) = $registrar =~ /^([^:]+)/;

# port 0: any free port; Net::SIP would take 5060, which another test or
# program may hold.
my $leg = Net::SIP::Leg->new(addr => '127.0.0.1', port => 0, proto => $proto,
    $proto eq 'tcp' ? (dst => $registrar) : ());
my $ua = Net::SIP::Simple->new(
    registrar => $registrar,
    domain    => $host,
    from      => "sip:$dn\@$host",
    leg       => $leg,
    defined $pass && $pass ne '' ? (auth => [ $dn, $pass ]) : (),
);
my $got = $ua->register(expires => $expires);
if (!$got) {
    print STDERR "netsip: register $dn failed: ", ($ua->error // 'no answer'), "\n";
    exit 1;
}
print "netsip: registered $dn expires $got\n";
exit 0;
