// End-to-end pipeline tests (#3).
#include <catch2/catch.hpp>
