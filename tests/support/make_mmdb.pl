#!/usr/bin/perl
# Writes a small GeoIP2-Country-style .mmdb for the tests (#14):
#   make_mmdb.pl OUT.mmdb CIDR=CC [CIDR=CC ...]
# e.g. 127.0.0.0/8=DE 203.0.113.0/24=FR. Uses Debian's libmaxmind-db-writer-perl.
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: $0 OUT.mmdb CIDR=CC ...\n";
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => 6,
    record_size           => 24,
    database_type         => 'Berth-Test-Country',
    languages             => ['en'],
    description           => { en => 'Berth test country database' },
    map_key_type_callback => sub { { country => 'map', iso_code => 'utf8_string' }->{ $_[0] } },
    alias_ipv6_to_ipv4    => 1,
    # The tests map loopback and documentation ranges, which are "reserved".
    remove_reserved_networks => 0,
);
for my $pair (@ARGV) {
    my ($cidr, $cc) = split /=/, $pair;
    $tree->insert_network($cidr, { country => { iso_code => $cc } });
}
open my $fh, '>:raw', $out or die "$out: $!\n";
$tree->write_tree($fh);
close $fh;
